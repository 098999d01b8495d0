// Pieces of TokenDataset (dataset.h) that touch the file system: listing the source files of a
// corpus, the default cache location, and the token cache file (write atomically, map and validate).
// Internal to trainer/; exposed for dataset.cpp and its tests.
//
// Token cache layout (little-endian):
//   0  "NSTOKENS"            8-byte magic
//   8  u32 version (2)       12 u32 meta_bytes     16 u64 token_count     24 u64 data_offset
//   32 u32 crc32(data)       36 u32 crc32(meta)    40 u32 crc32(bytes 0..40), zero up to 64
//   64 meta: JSON {tokenizer fingerprint, vocab size, data path, files: [{path, bytes, mtime_ns}],
//      settings (how examples were rendered: template family, --train-on)}
//   data_offset (64-aligned): token_count int32 ids; token_count u8 trained flags (1: the token is
//      trained as a target); zeros up to a multiple of 8; u64 flags; u64 document count; the u64
//      document start offsets (ascending, the first 0). crc32(data) covers all of it.
// Version 1 files (tokens only) read as stale and are rebuilt.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainer {

struct SourceFile {
  std::string path;     // as opened (data path joined with the relative path)
  std::string rel;      // relative to the data directory ("" for a single file)
  uint64_t bytes = 0;
  int64_t mtime_ns = 0;
  bool jsonl = false;   // .jsonl / .ndjson: one JSON object per line
};

// The files of a corpus in the order they are read (see DatasetOptions::data_path). NotFound when
// `data_path` does not exist; InvalidArgument when it is neither a file nor a directory.
common::Result<std::vector<SourceFile>> list_sources(const std::string& data_path);

// The folder for token caches of `data_path` when DatasetOptions::cache_dir is empty: the user's
// cache directory, $XDG_CACHE_HOME/nightshift (absolute values only), else ~/.cache/nightshift, else
// a per-user folder under the temporary directory; never beside the data. `env_xdg` and `env_home`
// are the values of $XDG_CACHE_HOME and $HOME (nullptr when unset).
std::string default_cache_dir(const std::string& data_path, const char* env_xdg, const char* env_home);

// The cache file name for `data_path` tokenized by `fingerprint`: "<name>.<16 hex>.tokens".
std::string cache_file_name(const std::string& data_path, const std::string& fingerprint);

// The meta JSON that identifies a cache's content (compared byte for byte on open).
std::string cache_meta(const std::string& data_path, const std::string& fingerprint, int vocab_size,
                       const std::vector<SourceFile>& sources, const std::string& settings = "");

// Streams tokens into "<path>.tmp.<pid>"; commit() writes the header, fsyncs and renames over
// `path`. Destroying an uncommitted writer removes the temporary.
class TokenCacheWriter {
 public:
  static common::Result<std::unique_ptr<TokenCacheWriter>> create(const std::string& path, const std::string& meta);
  ~TokenCacheWriter();
  TokenCacheWriter(const TokenCacheWriter&) = delete;
  TokenCacheWriter& operator=(const TokenCacheWriter&) = delete;
  // `trained`: one flag per token (empty: all trained).
  common::Status append(std::span<const int32_t> tokens, std::span<const uint8_t> trained = {});
  // The next token appended starts a document.
  void start_document();
  void set_flags(uint64_t flags) { flags_ = flags; }
  common::Status commit();
  uint64_t token_count() const { return count_; }
  uint64_t document_count() const { return docs_.size(); }

 private:
  TokenCacheWriter() = default;
  std::string path_, tmp_, meta_;
  int fd_ = -1;
  uint64_t count_ = 0;
  uint32_t crc_ = 0;
  uint64_t data_offset_ = 0;
  uint64_t flags_ = 0;
  std::vector<uint8_t> mask_;
  std::vector<uint64_t> docs_;
};

// A read-only mapping of a validated cache.
class MappedTokenCache {
 public:
  enum class State { kValid, kMissing, kStale, kCorrupt };
  // Maps `path` and checks it against `expected_meta`. `reason` (for kStale/kCorrupt) says why.
  static std::unique_ptr<MappedTokenCache> open(const std::string& path, const std::string& expected_meta,
                                                State* state, std::string* reason);
  ~MappedTokenCache();
  MappedTokenCache(const MappedTokenCache&) = delete;
  MappedTokenCache& operator=(const MappedTokenCache&) = delete;
  std::span<const int32_t> tokens() const { return tokens_; }
  std::span<const uint8_t> mask() const { return mask_; }
  std::span<const uint64_t> doc_starts() const { return doc_starts_; }
  uint64_t flags() const { return flags_; }

 private:
  MappedTokenCache() = default;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  std::span<const int32_t> tokens_;
  std::span<const uint8_t> mask_;
  std::span<const uint64_t> doc_starts_;
  uint64_t flags_ = 0;
};

}  // namespace trainer
