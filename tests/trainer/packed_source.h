// A synthetic packed BatchSource for the engine's tests: each row holds documents of random length
// (a Markov walk each), positions restart at 0 per document, and each document's first `prompt`
// targets and its last one are kIgnoreTarget (a prompt that is not trained, no target across the
// boundary). Row r is the same whatever the batch size, so B=4 and B=2 with two accumulated
// micro-batches see the same data.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/rng.h"
#include "trainer/trainer.h"

namespace trainer_test {

class PackedSource final : public trainer::BatchSource {
 public:
  // Documents of min_len .. max_len tokens (a row's last one is cut at the row's end); `prompt`
  // leading targets of each are masked. all_masked: every target is kIgnoreTarget.
  PackedSource(int vocab, int batch, int seq_len, uint64_t seed, int min_len = 3, int max_len = 9, int prompt = 2,
               bool all_masked = false)
      : vocab_(vocab), batch_(batch), seq_len_(seq_len), seed_(seed), min_len_(min_len), max_len_(max_len),
        prompt_(prompt), all_masked_(all_masked) {}

  bool packed() const override { return true; }
  void next(int32_t* inputs, int32_t* targets) override {
    std::vector<int32_t> positions(static_cast<size_t>(batch_) * seq_len_);
    next_packed(inputs, targets, positions.data());
  }
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) override {
    for (int b = 0; b < batch_; ++b) {
      const uint64_t row = draws_ * static_cast<uint64_t>(batch_) + static_cast<uint64_t>(b);
      fill_row(row, inputs + b * seq_len_, targets + b * seq_len_, positions + b * seq_len_);
    }
    ++draws_;
  }
  uint64_t position() const override { return draws_; }
  void seek(uint64_t p) override { draws_ = p; }
  int64_t batches_per_pass() const override { return passes_; }
  void set_batches_per_pass(int64_t n) { passes_ = n; }

 private:
  void fill_row(uint64_t row, int32_t* in, int32_t* tgt, int32_t* pos) const {
    trainer::Rng rng(seed_ ^ (0x9e3779b97f4a7c15ull * (row + 1)));
    for (int t0 = 0; t0 < seq_len_;) {
      const int len = std::min(seq_len_ - t0, min_len_ + static_cast<int>(rng.below(max_len_ - min_len_ + 1)));
      int32_t tok = static_cast<int32_t>(rng.below(vocab_));
      for (int i = 0; i < len; ++i) {
        const int t = t0 + i;
        in[t] = tok;
        pos[t] = i;
        tok = static_cast<int32_t>((tok * 7 + 3 + rng.below(2)) % vocab_);  // two likely successors
        const bool trained = !all_masked_ && i >= prompt_ && i + 1 < len;
        tgt[t] = trained ? tok : trainer::kIgnoreTarget;
      }
      t0 += len;
    }
  }

  int vocab_, batch_, seq_len_;
  uint64_t seed_;
  int min_len_, max_len_, prompt_;
  bool all_masked_;
  uint64_t draws_ = 0;
  int64_t passes_ = 0;
};

}  // namespace trainer_test
