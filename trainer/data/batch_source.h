// SamplerBatchSource: a TokenDataset behind the Trainer's BatchSource interface. Example data (chat,
// prompt/completion) is drawn as packed rows of whole examples (PackedSampler, packing.h); text is
// drawn as random windows (BatchSampler, dataset.h). Both mask untrained targets with kIgnoreTarget,
// and are packed() (they fill per-document positions) when the split holds more than one document.
// The dataset must outlive the source.
#pragma once

#include <memory>
#include <optional>

#include "trainer/data/dataset.h"
#include "trainer/data/packing.h"
#include "trainer/trainer.h"

namespace trainer {

class SamplerBatchSource final : public BatchSource {
 public:
  SamplerBatchSource(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed,
                     const PackingOptions& packing = {});
  // InvalidArgument naming the problem when the split cannot give one batch: too few tokens for a
  // window (text), or no example with a target (example data).
  static common::Status check_fits(const TokenDataset& data, Split split, int batch, int seq_len);

  void next(int32_t* inputs, int32_t* targets) override;
  bool packed() const override { return packed_; }
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) override;
  uint64_t position() const override;
  void seek(uint64_t position) override;
  int64_t batches_per_pass() const override;
  // The packing plan's counts (example data only).
  std::optional<PackingStats> packing_stats() const;

 private:
  std::optional<BatchSampler> windows_;
  std::unique_ptr<PackedSampler> rows_;
  Split split_;
  bool packed_ = false;
  std::vector<int32_t> scratch_;  // positions for next() of a packed source
};

}  // namespace trainer
