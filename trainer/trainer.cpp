// Trainer: accumulation, clipping, schedule and AdamW around Model; validation loss; thread knob.
#include "trainer/trainer.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/check.h"
#include "trainer/kernels/kernels.h"

namespace trainer {

using common::Result;
using common::Status;

void set_compute_threads(int n) {
  n = std::max(1, n);
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

int compute_threads() { return omp_get_max_threads(); }

void BatchSource::next_packed(int32_t* inputs, int32_t* targets, int32_t* /*positions*/) {
  CHECK_MSG(false, "next_packed() called on a source that does not pack documents");
  next(inputs, targets);
}

Result<std::unique_ptr<Trainer>> Trainer::create(const ModelConfig& config, const RunShape& shape,
                                                 const TrainOptions& options, BatchSource* train, BatchSource* val,
                                                 common::Clock* clock) {
  if (!train) return Status::InvalidArgument("a training run needs a batch source");
  if (options.steps < 1) return Status::InvalidArgument("steps must be at least 1");
  if (options.accum < 1) return Status::InvalidArgument("accum must be at least 1");
  if (!(options.lr > 0)) return Status::InvalidArgument("lr must be positive");
  if (options.min_lr < 0 || options.min_lr > options.lr) {
    return Status::InvalidArgument("min_lr must be between 0 and lr");
  }
  if (options.warmup < 0) return Status::InvalidArgument("warmup must not be negative");
  if (options.weight_decay < 0) return Status::InvalidArgument("weight_decay must not be negative");
  if (!(options.beta1 >= 0 && options.beta1 < 1 && options.beta2 >= 0 && options.beta2 < 1)) {
    return Status::InvalidArgument("beta1 and beta2 must be in [0, 1)");
  }
  if (!shape.training) return Status::InvalidArgument("a trainer needs a training shape");
  std::unique_ptr<Trainer> t(new Trainer());
  NS_ASSIGN_OR_RETURN(t->model_, Model::create(config, shape));
  t->model_->init_weights(options.seed);
  t->options_ = options;
  t->schedule_ = LrSchedule{options.lr, options.min_lr, options.warmup, options.steps};
  t->adamw_ = AdamWConfig{options.beta1, options.beta2, options.adam_eps, options.weight_decay};
  t->train_ = train;
  t->val_ = val;
  if (!clock) {
    t->owned_clock_ = std::make_unique<common::SteadyClock>();
    clock = t->owned_clock_.get();
  }
  t->clock_ = clock;
  const size_t n = static_cast<size_t>(shape.batch) * shape.seq_len;
  t->inputs_ = std::make_unique<int32_t[]>(n);
  t->targets_ = std::make_unique<int32_t[]>(n);
  t->positions_ = std::make_unique<int32_t[]>(n);
  t->set_threads(options.threads > 0 ? options.threads : t->model_->shape().max_threads);
  return t;
}

void Trainer::set_threads(int n) {
  threads_ = std::clamp(n, 1, model_->shape().max_threads);
  set_compute_threads(threads_);
}

Result<LoraRankReport> Trainer::set_lora_rank(int rank) {
  LoraRegistry* lora = model_->lora();
  if (!lora) return Status::InvalidArgument("the LoRA rank can only change in a lora or qlora run");
  rank = std::clamp(rank, std::max(1, model_->shape().lora.rank_floor), lora->rank_capacity());
  if (rank == lora->rank()) {
    LoraRankReport same;
    same.old_rank = same.new_rank = rank;
    return same;
  }
  return lora->set_rank(rank, options_.seed + static_cast<uint64_t>(step_));
}

int Trainer::lora_rank() const { return model_->lora() ? model_->lora()->rank() : 0; }

float Trainer::lr_for_next_step() const { return lr_at(schedule_, step_) * lr_scale_; }

namespace {
// Draws the next (B, T) batch of `src` into the buffers; returns the positions to give the model
// (null for an unpacked source).
const int32_t* draw(BatchSource& src, int32_t* inputs, int32_t* targets, int32_t* positions) {
  if (!src.packed()) {
    src.next(inputs, targets);
    return nullptr;
  }
  src.next_packed(inputs, targets, positions);
  return positions;
}
}  // namespace

Result<StepStats> Trainer::step() {
  if (done()) {
    return Status::InvalidArgument("the run has finished: " + std::to_string(step_) + " of " +
                                   std::to_string(options_.steps) + " steps done");
  }
  const double t0 = clock_->now_s();
  Model& m = *model_;
  m.zero_grad();
  double ce_sum = 0.0, aux = 0.0;
  const float micro_scale = 1.0f / static_cast<float>(options_.accum);
  const uint64_t start_position = train_->position();
  const int64_t batch_tokens = int64_t{m.batch()} * m.seq_len();
  // The step's trained tokens: counted ahead when there are several micro-batches.
  int64_t step_trained = 0;
  if (options_.accum > 1) {
    for (int a = 0; a < options_.accum; ++a) {
      draw(*train_, inputs_.get(), targets_.get(), positions_.get());
      step_trained += count_trained_targets(targets_.get(), batch_tokens);
    }
    train_->seek(start_position);
  }
  for (int a = 0; a < options_.accum; ++a) {
    if (a > 0 && interrupt_ && interrupt_()) {
      train_->seek(start_position);  // the abandoned micro-batches are drawn again on resume
      StepStats abandoned;
      abandoned.step = step_;
      abandoned.interrupted = true;
      abandoned.threads = threads_;
      abandoned.step_s = clock_->now_s() - t0;
      return abandoned;
    }
    const int32_t* positions = draw(*train_, inputs_.get(), targets_.get(), positions_.get());
    if (options_.accum == 1) step_trained = count_trained_targets(targets_.get(), batch_tokens);
    const float ce_sum_scale = step_trained > 0 ? 1.0f / static_cast<float>(step_trained) : 0.0f;
    const float l = m.forward_train(inputs_.get(), targets_.get(), positions, ce_sum_scale);
    if (!std::isfinite(l)) {
      return Status::Internal("the loss is not finite at step " + std::to_string(step_ + 1) +
                              " (lower the learning rate?)");
    }
    ce_sum += m.last_ce_sum();
    aux += m.last_aux_loss();
    m.backward_scaled(ce_sum_scale, micro_scale);
  }
  const double norm = global_grad_norm(m.params());
  if (!std::isfinite(norm)) {
    return Status::Internal("the gradient norm is not finite at step " + std::to_string(step_ + 1));
  }
  const float clip = clip_factor(norm, options_.grad_clip);
  const float lr = lr_for_next_step();
  adamw_update(m.params(), adamw_, lr, step_ + 1, clip);
  ++step_;

  StepStats s;
  s.step = step_;
  s.ce_loss = step_trained > 0 ? static_cast<float>(ce_sum / static_cast<double>(step_trained)) : 0.0f;
  s.aux_loss = static_cast<float>(aux / options_.accum);
  s.loss = s.ce_loss + m.aux_loss_weight() * s.aux_loss;
  s.lr = lr;
  s.grad_norm = static_cast<float>(norm);
  s.clipped = clip < 1.0f;
  s.tokens = batch_tokens * options_.accum;
  s.trained_tokens = step_trained;
  s.threads = threads_;
  s.flops = m.forward_flops() * options_.accum * (m.shape().grad_checkpoint ? 4.0 : 3.0);
  s.step_s = clock_->now_s() - t0;
  return s;
}

namespace {
// inputs, targets, positions: (B, T) buffers of the caller. The mean is over all trained targets of
// the batches, the rule of training.
Result<EvalStats> evaluate_into(Model& model, BatchSource& val, int batches, int32_t* inputs, int32_t* targets,
                                int32_t* positions) {
  if (batches < 1) return Status::InvalidArgument("eval batches must be at least 1");
  const int64_t pass = val.batches_per_pass();
  if (pass > 0) batches = static_cast<int>(std::min<int64_t>(batches, pass));
  val.seek(0);
  double total = 0.0;
  int64_t trained = 0;
  for (int i = 0; i < batches; ++i) {
    model.forward(inputs, targets, draw(val, inputs, targets, positions));
    total += model.last_ce_sum();
    trained += model.last_trained_tokens();
  }
  EvalStats e;
  e.batches = batches;
  e.trained_tokens = trained;
  e.val_loss = trained > 0 ? static_cast<float>(total / static_cast<double>(trained)) : 0.0f;
  return e;
}
}  // namespace

Result<EvalStats> evaluate_model(Model& model, BatchSource& val, int batches) {
  const size_t n = static_cast<size_t>(model.batch()) * model.seq_len();
  std::vector<int32_t> inputs(n), targets(n), positions(n);
  return evaluate_into(model, val, batches, inputs.data(), targets.data(), positions.data());
}

Result<EvalStats> Trainer::evaluate(int batches) {
  if (!val_) return Status::InvalidArgument("no validation data");
  return evaluate_into(*model_, *val_, batches, inputs_.get(), targets_.get(), positions_.get());
}

}  // namespace trainer
