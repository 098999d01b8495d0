// SamplerBatchSource: the dataset's BatchSampler (trainer/data/dataset.h) behind the Trainer's
// BatchSource interface. Holds the sampler by value; the dataset must outlive it.
#pragma once

#include "trainer/data/dataset.h"
#include "trainer/trainer.h"

namespace trainer {

class SamplerBatchSource final : public BatchSource {
 public:
  SamplerBatchSource(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed)
      : sampler_(data, split, batch, seq_len, seed), split_(split) {}
  void next(int32_t* inputs, int32_t* targets) override { sampler_.next(inputs, targets); }
  uint64_t position() const override { return sampler_.position(); }
  void seek(uint64_t position) override { sampler_.seek(position); }
  int64_t batches_per_pass() const override { return split_ == Split::kVal ? sampler_.val_batches() : 0; }

 private:
  BatchSampler sampler_;
  Split split_;
};

}  // namespace trainer
