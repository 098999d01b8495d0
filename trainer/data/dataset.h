// TokenDataset: a corpus (a text file, a directory of text files, or JSONL with a "text" field)
// tokenized once into a cached token file that later opens memory-map (int32 ids after a header:
// magic, version, tokenizer fingerprint, source identity = paths, sizes and mtimes, token count,
// CRC-32 of the tokens). The last `val_fraction` of the tokens is the validation split.
// BatchSampler draws (B, T) inputs and targets deterministically from a seed; its position is part
// of a checkpoint. Not a streaming loader: the whole token file is mapped.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer {

struct DatasetOptions {
  // A text file; a .jsonl/.ndjson file (one JSON object per line with a string field "text"); or a
  // directory, recursed in sorted path order, where .jsonl/.ndjson files are read as JSONL and every
  // other file as text, skipping symlinks, hidden entries (names starting with '.') and binary
  // files (any NUL byte). Each document (file or JSONL record) is tokenized on its own and followed
  // by a newline when it does not end with one.
  std::string data_path;
  // Where the token cache goes. "" = the user's cache directory: $XDG_CACHE_HOME/nightshift, else
  // ~/.cache/nightshift (never beside the data, which may be shared or read-only). Created if missing.
  std::string cache_dir;
  // Last fraction of the tokens held out for validation, in [0, 1).
  double val_fraction = 0.1;
};

class TokenDataset {
 public:
  // Tokenizes (or reuses a valid cache) and maps the tokens. Errors: NotFound naming a missing data
  // path; InvalidArgument for no text at all (empty file, only binary files), a bad JSONL line
  // ("file:line: ...") or val_fraction outside [0, 1); IOError when the cache cannot be written.
  // A corrupt cache (bad magic, truncated, checksum mismatch) or a stale one (data changed since,
  // other tokenizer) is rebuilt with a warning through common::log_warning.
  static common::Result<std::unique_ptr<TokenDataset>> open(const DatasetOptions& options, const Tokenizer& tokenizer);
  virtual ~TokenDataset() = default;
  virtual std::span<const int32_t> train_tokens() const = 0;
  virtual std::span<const int32_t> val_tokens() const = 0;
  virtual const std::string& cache_path() const = 0;
  // True when open() tokenized the data (no valid cache was found).
  virtual bool built_cache() const { return false; }
};

enum class Split { kTrain, kVal };

// Deterministic sampling of (B, T) inputs and targets (targets = inputs shifted by one).
//
// Train: row b of draw d is the window starting at offset splitmix64(seed, d·B + b) mod (n − T),
// where splitmix64(seed, i) is the splitmix64 output for state seed + (i+1)·0x9E3779B97F4A7C15 and
// the reduction is Lemire's multiply-shift. Each window is therefore a pure function of (seed, d, b):
// position() and seek() restore the stream exactly and seeking is O(1).
// Val: consecutive non-overlapping windows from the start of the split; row b of draw d is window
// (d·B + b) mod W (W = (n − 1) / T windows), so draws 0 .. val_batches()−1 cover the split once.
// Not thread-safe (one sampler per thread). The dataset must outlive the sampler.
class BatchSampler {
 public:
  // CHECKs that the split holds at least T+1 tokens: call check_fits() first for a user-facing error.
  BatchSampler(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed);
  // InvalidArgument ("... holds N tokens, fewer than seq_len+1 = ...") when the split is too short
  // for one window of seq_len+1 tokens, or batch/seq_len are not positive.
  static common::Status check_fits(const TokenDataset& data, Split split, int batch, int seq_len);
  // inputs and targets are (B, T) int32, row-major.
  void next(int32_t* inputs, int32_t* targets);
  uint64_t position() const { return draws_; }
  void seek(uint64_t draws) { draws_ = draws; }
  void reset() { seek(0); }
  // How many (B, T) batches the validation split holds: max(1, W / B) (0 if it has < T+1 tokens).
  int64_t val_batches() const;
  // Start offset (into the split) of row b of draw d, as documented above.
  uint64_t window_start(uint64_t draw, int row) const;

 private:
  std::span<const int32_t> tokens_;
  Split split_;
  int batch_;
  int seq_len_;
  uint64_t seed_;
  uint64_t draws_ = 0;
};

}  // namespace trainer
