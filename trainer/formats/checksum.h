// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320; the same value as zlib's crc32()), used to
// checksum token caches and checkpoints. Not a cryptographic hash: it detects damage, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer {

// CRC-32 of `bytes` bytes at `data`. Pass the previous result as `seed` to continue a running
// checksum over several buffers: crc32(b, nb, crc32(a, na)) == crc32 of a followed by b.
// Thread-safe (the table is built once, at compile time).
uint32_t crc32(const void* data, size_t bytes, uint32_t seed = 0);

}  // namespace trainer
