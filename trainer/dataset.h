// TokenDataset: a corpus (a text file, a directory of text files, or JSONL with a "text" field)
// tokenized once into a cached token file (uint32 ids with a header: magic, version, tokenizer
// fingerprint, source size and mtime, checksum) that is memory-mapped. The last `val_fraction` of the
// tokens is the validation split. BatchSampler draws (B, T+1) windows deterministically from a seed;
// its position is part of a checkpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "trainer/tokenizer.h"

namespace trainer {

struct DatasetOptions {
  std::string data_path;        // file, directory (recursed; binary files and symlinks skipped) or .jsonl
  std::string cache_dir;        // where the token cache goes; "" = next to the run (caller decides)
  double val_fraction = 0.1;    // last fraction of tokens held out for validation
};

class TokenDataset {
 public:
  // Tokenizes (or reuses a valid cache) and maps the tokens. Errors: missing/empty data (names the
  // path), a corrupt cache is rebuilt with a warning, a cache that cannot be written is an IOError.
  static common::Result<std::unique_ptr<TokenDataset>> open(const DatasetOptions& options, const Tokenizer& tokenizer);
  virtual ~TokenDataset() = default;
  virtual std::span<const int32_t> train_tokens() const = 0;
  virtual std::span<const int32_t> val_tokens() const = 0;
  virtual const std::string& cache_path() const = 0;
};

enum class Split { kTrain, kVal };

// Deterministic sampling of (B, T) inputs and targets (targets = inputs shifted by one).
// Train: random windows from an RNG seeded by `seed`; its state is (seed, draws), so position() and
// seek() restore it exactly. Val: consecutive windows from the start of the validation split.
class BatchSampler {
 public:
  BatchSampler(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed);
  // inputs and targets are (B, T) int32, row-major.
  void next(int32_t* inputs, int32_t* targets);
  uint64_t position() const { return draws_; }
  void seek(uint64_t draws);
  void reset() { seek(0); }
  // How many (B, T) batches the validation split holds (at least 1 when it has T+1 tokens).
  int64_t val_batches() const;

 private:
  std::span<const int32_t> tokens_;
  Split split_;
  int batch_;
  int seq_len_;
  uint64_t seed_;
  uint64_t draws_ = 0;
};

}  // namespace trainer
