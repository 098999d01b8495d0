// Synthetic token sources for the engine's tests: a Markov chain where each token is followed by one
// of `fanout` fixed successors chosen uniformly, so the best achievable next-token loss is
// ln(fanout) nats (every position after the first is predictable from the previous token).
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/rng.h"
#include "trainer/trainer.h"

namespace trainer_test {

class MarkovSource final : public trainer::BatchSource {
 public:
  // The chain is fixed by chain_seed; the walks drawn from it by sample_seed (so a validation source
  // shares the chain of the training source but not its samples).
  MarkovSource(int vocab, int fanout, int batch, int seq_len, uint64_t chain_seed, uint64_t sample_seed)
      : vocab_(vocab), fanout_(fanout), batch_(batch), seq_len_(seq_len), seed_(sample_seed) {
    trainer::Rng rng(chain_seed * 7919 + 1);
    // `fanout` distinct successors per token, so the conditional entropy is exactly ln(fanout).
    for (int v = 0; v < vocab; ++v) {
      std::vector<int32_t> picked;
      while (static_cast<int>(picked.size()) < fanout) {
        const int32_t s = static_cast<int32_t>(rng.below(vocab));
        bool seen = false;
        for (int32_t p : picked) seen = seen || p == s;
        if (!seen) picked.push_back(s);
      }
      successors_.insert(successors_.end(), picked.begin(), picked.end());
    }
  }
  void next(int32_t* inputs, int32_t* targets) override {
    trainer::Rng rng(seed_ ^ (0x9e3779b97f4a7c15ull * (draws_ + 1)));
    for (int b = 0; b < batch_; ++b) {
      int32_t tok = static_cast<int32_t>(rng.below(vocab_));
      for (int t = 0; t <= seq_len_; ++t) {
        if (t < seq_len_) inputs[b * seq_len_ + t] = tok;
        if (t > 0) targets[b * seq_len_ + t - 1] = tok;
        tok = successors_[static_cast<size_t>(tok) * fanout_ + rng.below(fanout_)];
      }
    }
    ++draws_;
  }
  uint64_t position() const override { return draws_; }
  void seek(uint64_t p) override { draws_ = p; }

 private:
  int vocab_, fanout_, batch_, seq_len_;
  uint64_t seed_;
  uint64_t draws_ = 0;
  std::vector<int32_t> successors_;
};

// A fixed list of token rows served `batch` rows at a time, cycling; row r is the same whatever the
// batch size, so B=4 and B=2 with two accumulated micro-batches see the same data.
class RowSource final : public trainer::BatchSource {
 public:
  RowSource(std::vector<int32_t> rows, int n_rows, int batch, int seq_len)
      : rows_(std::move(rows)), n_rows_(n_rows), batch_(batch), seq_len_(seq_len) {}
  void next(int32_t* inputs, int32_t* targets) override {
    for (int b = 0; b < batch_; ++b) {
      const int r = static_cast<int>((draws_ * batch_ + b) % n_rows_);
      const int32_t* row = rows_.data() + static_cast<size_t>(r) * (seq_len_ + 1);
      for (int t = 0; t < seq_len_; ++t) {
        inputs[b * seq_len_ + t] = row[t];
        targets[b * seq_len_ + t] = row[t + 1];
      }
    }
    ++draws_;
  }
  uint64_t position() const override { return draws_; }
  void seek(uint64_t p) override { draws_ = p; }

 private:
  std::vector<int32_t> rows_;
  int n_rows_, batch_, seq_len_;
  uint64_t draws_ = 0;
};

}  // namespace trainer_test
