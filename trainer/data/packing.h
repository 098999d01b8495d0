// Rows of whole examples: the documents of a split (chat, prompt/completion and text records, each
// ending with its end token) packed into rows of T+1 tokens so that no row position is wasted on
// padding while another example could fit, and no example sees another (positions restart at 0 at
// each example; a target never crosses from one example into the next).
//
// The plan: examples longer than T+1 tokens are truncated to T+1, or split into chunks of T+1 tokens
// that overlap by one (each of their targets is trained once); chunks with fewer than 2 tokens are
// dropped (no target). Train: the examples in a seeded shuffle are packed in that order, each into
// the current row when it fits, else into a new row (next fit); row i of the stream is row
// perm_e[i mod R] of epoch e = i / R, perm_e a seeded permutation. Val: examples in order, rows in
// order, wrapping around. Everything is a pure function of (seed, draw), so position()/seek() are
// exact. With packing off, each example is a row of its own, padded.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainer {

enum class LongExamples { kTruncate, kSplit };

struct PackingOptions {
  bool packing = true;  // false: one example per row, padded (--no-packing)
  LongExamples long_examples = LongExamples::kTruncate;
  int32_t pad_id = 0;   // the input id of padding (its targets are ignored)
};

struct PackingStats {
  int64_t examples = 0;   // documents of the split
  int64_t truncated = 0;  // longer than T+1, cut
  int64_t split = 0;      // longer than T+1, split into chunks
  int64_t rows = 0;       // rows of one pass
  int64_t tokens = 0;     // tokens placed in rows (excluding padding)
};

class PackedSampler {
 public:
  // `tokens`, `trained` (one flag per token; empty: all) and `doc_starts` (offsets into tokens,
  // ascending; 0 is a start whether listed or not) describe one split. `shuffle`: train order.
  PackedSampler(std::span<const int32_t> tokens, std::span<const uint8_t> trained, std::span<const uint64_t> doc_starts,
                bool shuffle, int batch, int seq_len, uint64_t seed, const PackingOptions& options);
  // inputs, targets, positions: (B, T) int32. Targets of untrained tokens, of padding and of the last
  // token of an example are kIgnoreTarget (-1).
  void next(int32_t* inputs, int32_t* targets, int32_t* positions);
  uint64_t position() const { return draws_; }
  void seek(uint64_t draws) { draws_ = draws; }
  int64_t rows() const { return static_cast<int64_t>(row_offsets_.size()) - 1; }
  int64_t batches_per_pass() const;
  const PackingStats& stats() const { return stats_; }
  // The row of the stream that row b of draw d is (for tests).
  int64_t row_of(uint64_t draw, int b) const;

 private:
  struct Item {
    uint64_t start;  // offset into tokens
    uint32_t len;
  };
  std::span<const int32_t> tokens_;
  std::span<const uint8_t> trained_;
  bool shuffle_;
  int batch_, seq_len_;
  uint64_t seed_;
  PackingOptions options_;
  std::vector<Item> items_;             // in row order
  std::vector<size_t> row_offsets_;     // row r holds items_[row_offsets_[r] .. row_offsets_[r+1])
  PackingStats stats_;
  uint64_t draws_ = 0;
  mutable int64_t perm_epoch_ = -1;
  mutable std::vector<uint32_t> perm_;
};

// One log line about a plan: examples, rows, and how many were truncated or split.
std::string packing_summary(const PackingStats& stats, int seq_len);

}  // namespace trainer
