// TrainerHolder: owns the trainer of a `nightshift train` run and its batch sources, and can rebuild
// them with a smaller (or the planned) micro-batch in the middle of a run — what the memory watch
// asks for when the system runs short of memory. The effective batch is kept through gradient
// accumulation and the data stream is the same: the sources still draw the planned batch of
// sequences and hand it out in slices (SubBatchSource), so every optimizer step sees the same
// sequences and only the summation order changes. Rebuilding frees the old activation arenas (the
// memory goes back to the system) and reloads weights, moments and progress from the checkpoint the
// loop has just written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/data/batch_source.h"
#include "trainer/data/dataset.h"
#include "trainer/model_config.h"
#include "trainer/trainer.h"

namespace app {

// Hands out the planned batch of `inner` in `slices` equal parts, one per next(). Its position is
// the inner source's, which is exact at every optimizer-step boundary (all slices handed out).
class SubBatchSource final : public trainer::BatchSource {
 public:
  SubBatchSource(std::unique_ptr<trainer::BatchSource> inner, int planned_batch, int seq_len, int slices);
  void next(int32_t* inputs, int32_t* targets) override;
  // A packed inner source is sliced the same way, positions with the rows.
  bool packed() const override { return inner_->packed(); }
  void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) override;
  uint64_t position() const override { return inner_->position(); }
  void seek(uint64_t position) override;
  int64_t batches_per_pass() const override { return inner_->batches_per_pass() * slices_; }

 private:
  std::unique_ptr<trainer::BatchSource> inner_;
  int slice_tokens_;
  int slices_;
  int handed_ = 0;  // slices of the current planned batch already handed out
  std::vector<int32_t> inputs_, targets_, positions_;  // positions_ only for a packed inner source
};

class TrainerHolder {
 public:
  // `data` must outlive the holder; `have_val`: the validation split holds at least one batch.
  TrainerHolder(const trainer::ModelConfig& config, const trainer::RunShape& shape, const trainer::TrainOptions& options,
                const trainer::TokenDataset& data, bool have_val);

  // How example data is packed into rows (before build()).
  void set_packing(const trainer::PackingOptions& packing) { packing_ = packing; }
  // Builds the trainer with the planned micro-batch.
  common::Status build();
  // Rebuilds with `micro_batch` (rounded down to a divisor of the planned one) and accumulation
  // raised to keep the effective batch; loads `checkpoint_dir` (empty: the run has no step yet,
  // weights re-initialised from the seed as at the start; the caller prepares a lora base again).
  // The thread count carries over.
  common::Result<trainer::Trainer*> rebuild(int micro_batch, const std::string& checkpoint_dir);

  trainer::Trainer& trainer() { return *trainer_; }
  int planned_micro_batch() const { return shape_.batch; }
  int micro_batch() const { return micro_batch_; }

 private:
  common::Status build_with(int micro_batch);

  trainer::ModelConfig config_;
  trainer::RunShape shape_;
  trainer::TrainOptions options_;
  const trainer::TokenDataset& data_;
  trainer::PackingOptions packing_;
  bool have_val_;
  int micro_batch_ = 0;
  std::unique_ptr<trainer::BatchSource> train_src_, val_src_;
  std::unique_ptr<trainer::Trainer> trainer_;
};

}  // namespace app
