// TrainerHolder and SubBatchSource.
#include "app/train/trainer_holder.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>

#include "trainer/formats/checkpoint.h"

namespace app {

using common::Result;
using common::Status;

SubBatchSource::SubBatchSource(std::unique_ptr<trainer::BatchSource> inner, int planned_batch, int seq_len, int slices)
    : inner_(std::move(inner)),
      slice_tokens_(planned_batch / slices * seq_len),
      slices_(slices),
      inputs_(static_cast<size_t>(planned_batch) * seq_len),
      targets_(static_cast<size_t>(planned_batch) * seq_len),
      positions_(inner_->packed() ? static_cast<size_t>(planned_batch) * seq_len : 0) {}

void SubBatchSource::next(int32_t* inputs, int32_t* targets) {
  if (handed_ == 0) inner_->next(inputs_.data(), targets_.data());
  const size_t offset = static_cast<size_t>(handed_) * slice_tokens_;
  std::memcpy(inputs, inputs_.data() + offset, slice_tokens_ * sizeof(int32_t));
  std::memcpy(targets, targets_.data() + offset, slice_tokens_ * sizeof(int32_t));
  handed_ = (handed_ + 1) % slices_;
}

void SubBatchSource::next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) {
  if (handed_ == 0) inner_->next_packed(inputs_.data(), targets_.data(), positions_.data());
  const size_t offset = static_cast<size_t>(handed_) * slice_tokens_;
  std::memcpy(inputs, inputs_.data() + offset, slice_tokens_ * sizeof(int32_t));
  std::memcpy(targets, targets_.data() + offset, slice_tokens_ * sizeof(int32_t));
  std::memcpy(positions, positions_.data() + offset, slice_tokens_ * sizeof(int32_t));
  handed_ = (handed_ + 1) % slices_;
}

void SubBatchSource::seek(uint64_t position) {
  inner_->seek(position);
  handed_ = 0;
}

TrainerHolder::TrainerHolder(const trainer::ModelConfig& config, const trainer::RunShape& shape,
                             const trainer::TrainOptions& options, const trainer::TokenDataset& data, bool have_val)
    : config_(config), shape_(shape), options_(options), data_(data), have_val_(have_val) {}

Status TrainerHolder::build() { return build_with(shape_.batch); }

Status TrainerHolder::build_with(int micro_batch) {
  if (micro_batch < 1 || shape_.batch % micro_batch != 0) {
    return Status::InvalidArgument("micro-batch " + std::to_string(micro_batch) + " does not divide the planned " +
                                   std::to_string(shape_.batch));
  }
  const int slices = shape_.batch / micro_batch;
  trainer_.reset();  // the old arenas go first, so the two never coexist
  train_src_.reset();
  val_src_.reset();
  malloc_trim(0);
  auto planned_src = [&](trainer::Split split) -> std::unique_ptr<trainer::BatchSource> {
    return std::make_unique<trainer::SamplerBatchSource>(data_, split, shape_.batch, shape_.seq_len, options_.seed,
                                                         packing_);
  };
  if (slices == 1) {
    train_src_ = planned_src(trainer::Split::kTrain);
    if (have_val_) val_src_ = planned_src(trainer::Split::kVal);
  } else {
    train_src_ = std::make_unique<SubBatchSource>(planned_src(trainer::Split::kTrain), shape_.batch, shape_.seq_len, slices);
    if (have_val_) {
      val_src_ = std::make_unique<SubBatchSource>(planned_src(trainer::Split::kVal), shape_.batch, shape_.seq_len, slices);
    }
  }
  trainer::RunShape shape = shape_;
  shape.batch = micro_batch;
  trainer::TrainOptions options = options_;
  options.accum = options_.accum * slices;
  NS_ASSIGN_OR_RETURN(trainer_, trainer::Trainer::create(config_, shape, options, train_src_.get(), val_src_.get()));
  micro_batch_ = micro_batch;
  return Status::Ok();
}

Result<trainer::Trainer*> TrainerHolder::rebuild(int micro_batch, const std::string& checkpoint_dir) {
  const int threads = trainer_ ? trainer_->threads() : 0;
  micro_batch = std::clamp(micro_batch, 1, shape_.batch);
  while (shape_.batch % micro_batch != 0) --micro_batch;  // the planned batch is sliced evenly
  NS_RETURN_IF_ERROR(build_with(micro_batch));
  if (!checkpoint_dir.empty()) {
    NS_ASSIGN_OR_RETURN(trainer::CheckpointInfo info, trainer::read_checkpoint_dir(checkpoint_dir));
    NS_RETURN_IF_ERROR(trainer::load_checkpoint_tensors(info, trainer_->model(), true));
    trainer_->restore_progress(info.step, info.train_position);
  }
  if (threads > 0) trainer_->set_threads(threads);
  return trainer_.get();
}

}  // namespace app
