// Pieces of TokenDataset (dataset.h) that touch the file system: listing the source files of a
// corpus, the default cache location, and the token cache file (write atomically, map and validate).
// Internal to trainer/; exposed for dataset.cpp and its tests.
//
// Token cache layout (little-endian):
//   0  "NSTOKENS"            8-byte magic
//   8  u32 version (1)       12 u32 meta_bytes     16 u64 token_count     24 u64 data_offset
//   32 u32 crc32(tokens)     36 u32 crc32(meta)    40 u32 crc32(bytes 0..40), zero up to 64
//   64 meta: JSON {tokenizer fingerprint, vocab size, data path, files: [{path, bytes, mtime_ns}]}
//   data_offset (64-aligned): token_count int32 ids
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
                       const std::vector<SourceFile>& sources);

// Streams tokens into "<path>.tmp.<pid>"; commit() writes the header, fsyncs and renames over
// `path`. Destroying an uncommitted writer removes the temporary.
class TokenCacheWriter {
 public:
  static common::Result<std::unique_ptr<TokenCacheWriter>> create(const std::string& path, const std::string& meta);
  ~TokenCacheWriter();
  TokenCacheWriter(const TokenCacheWriter&) = delete;
  TokenCacheWriter& operator=(const TokenCacheWriter&) = delete;
  common::Status append(std::span<const int32_t> tokens);
  common::Status commit();
  uint64_t token_count() const { return count_; }

 private:
  TokenCacheWriter() = default;
  std::string path_, tmp_, meta_;
  int fd_ = -1;
  uint64_t count_ = 0;
  uint32_t crc_ = 0;
  uint64_t data_offset_ = 0;
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

 private:
  MappedTokenCache() = default;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  std::span<const int32_t> tokens_;
};

}  // namespace trainer
