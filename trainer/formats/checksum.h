// nightshift's two hashes, each with one job, in one place:
// - CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320; the same value as zlib's crc32()) detects
//   damage: token caches, checkpoint files and their state.json. Not cryptographic.
// - FNV-1a 64 names content: a base's identity (base_id, kept in runs and adapters) and the token
//   cache's file name. Checkpoints written before CRC-32 recorded it as their checksum as well.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace trainer {

// CRC-32 of `bytes` bytes at `data`. Pass the previous result as `seed` to continue a running
// checksum over several buffers: crc32(b, nb, crc32(a, na)) == crc32 of a followed by b.
// Thread-safe (the table is built once, at compile time).
uint32_t crc32(const void* data, size_t bytes, uint32_t seed = 0);

// FNV-1a 64 of `data`; pass the previous result as `seed` to continue over several pieces.
inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(std::string_view data, uint64_t seed = kFnv1a64Offset);

// Both sums of a whole file, streamed once. IOError/NotFound naming the file.
struct FileSums {
  uint64_t bytes = 0;
  uint32_t crc32 = 0;
  uint64_t fnv1a64 = 0;
};
common::Result<FileSums> file_sums(const std::string& path);

// Lower-case hex of fixed width: 8 digits, 16 digits.
std::string hex32(uint32_t v);
std::string hex64(uint64_t v);

}  // namespace trainer
