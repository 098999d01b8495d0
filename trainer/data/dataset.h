// TokenDataset: a corpus (a text file, a directory of files, or JSONL records: text, prompt/completion,
// chat, ShareGPT, Alpaca; see trainer/data/records.h) tokenized once into a cached token file that
// later opens memory-mapped (int32 ids, a trained flag per token and the document starts, after a
// header: magic, version, tokenizer fingerprint, source identity = paths, sizes and mtimes, how
// examples were rendered, CRC-32; see dataset_cache.h). Each document (a text file or a record) ends
// with its end token (trainer/data/examples.h). The validation split is a separate file
// (val_data_path) or the last `val_fraction` of the tokens (starting at a document start for
// example data).
// BatchSampler draws (B, T) inputs and targets deterministically from a seed; its position is part
// of a checkpoint. Not a streaming loader: the whole token file is mapped.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

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
  // Last fraction of the tokens held out for validation, in [0, 1). Unused with val_data_path.
  double val_fraction = 0.1;
  // A separate validation set (a file or directory, read like data_path); "" = the held-out fraction.
  std::string val_data_path;
  // --chat-template NAME ("" = the tokenizer's own template) and --train-on ("" or "auto" = the
  // default of each record kind); see trainer/data/examples.h.
  std::string chat_template;
  std::string train_on;
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
  // One flag per token of the split (1: trained as a target); empty = all trained.
  virtual std::span<const uint8_t> train_mask() const { return {}; }
  virtual std::span<const uint8_t> val_mask() const { return {}; }
  // Offsets (into the split) where documents start, ascending; empty = one document.
  virtual std::span<const uint64_t> train_doc_starts() const { return {}; }
  virtual std::span<const uint64_t> val_doc_starts() const { return {}; }
  // True when the data holds examples (chat, prompt/completion records): rows are then packed from
  // whole examples (trainer/data/packing.h) rather than drawn as random windows.
  virtual bool examples() const { return false; }
  // True when open() tokenized the data (no valid cache was found).
  virtual bool built_cache() const { return false; }
};

enum class Split { kTrain, kVal };

// Deterministic sampling of (B, T) inputs and targets (targets = inputs shifted by one) as windows
// of the token stream. A target that is not trained (the dataset's mask) is kIgnoreTarget (text is
// all trained: its windows never have one); next_packed() also gives positions, restarting at 0 at the row's start and at each
// document start inside the window.
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
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions);
  // Whether the split holds more than one document (windows can then cross a document start).
  bool has_documents() const { return doc_starts_.size() > 1 || (doc_starts_.size() == 1 && doc_starts_[0] != 0); }
  uint64_t position() const { return draws_; }
  void seek(uint64_t draws) { draws_ = draws; }
  void reset() { seek(0); }
  // How many (B, T) batches the validation split holds: max(1, W / B) (0 if it has < T+1 tokens).
  int64_t val_batches() const;
  // Start offset (into the split) of row b of draw d, as documented above.
  uint64_t window_start(uint64_t draw, int row) const;

 private:
  std::span<const int32_t> tokens_;
  std::span<const uint8_t> mask_;
  std::span<const uint64_t> doc_starts_;
  Split split_;
  int batch_;
  int seq_len_;
  uint64_t seed_;
  uint64_t draws_ = 0;
  bool plain_ = true;                       // one document, all trained: next() copies windows
  std::vector<int32_t> scratch_positions_;  // next() of a masked or multi-document split
};

}  // namespace trainer
