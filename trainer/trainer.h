// Trainer: one optimizer step at a time over a Model — micro-batches from a BatchSource, gradient
// accumulation, global-norm clipping, the lr schedule and AdamW — plus validation loss and the
// knobs a governor turns between steps (threads, lr scale). It never sleeps, polls sensors, logs to
// SQLite or prints: the app-level loop (app/loop/train_loop.h) calls step() and decides what to do next.
// Not thread-safe: one caller.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "trainer/model.h"
#include "trainer/optimizer.h"

namespace trainer {

// Where (B, T) token batches come from. The dataset's BatchSampler is wrapped by
// SamplerBatchSource (trainer/data/batch_source.h); tests use synthetic sources.
class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // Fills inputs and targets, each (B, T) int32 row-major, for the shape it was built with.
  // A target below 0 (kIgnoreTarget) is not trained: the loss and its gradient average over the
  // other targets only (chat data trains the assistant's turns, not the prompts).
  virtual void next(int32_t* inputs, int32_t* targets) = 0;
  // Sources that pack several documents into one row return true from packed() and are drawn with
  // next_packed() instead of next(); it also fills positions, (B, T) int32: each token's index
  // within its own document (0 at a document's first token, counting up; a row may start inside a
  // document at a position > 0). A token sees only the tokens of its own document: attention is
  // masked across documents, RoPE uses these positions, and recurrent state (SSM state, conv
  // history) restarts where a position is 0. Unpacked sources are one document per row (0 .. T-1).
  virtual bool packed() const { return false; }
  virtual void next_packed(int32_t* inputs, int32_t* targets, int32_t* positions);
  // Deterministic position (number of batches drawn) and a way back to it.
  virtual uint64_t position() const = 0;
  virtual void seek(uint64_t position) = 0;
  // How many distinct batches a pass holds (validation); 0 = unbounded (training).
  virtual int64_t batches_per_pass() const { return 0; }
};

// The target value of a token that carries no loss.
inline constexpr int32_t kIgnoreTarget = -1;

// The options of a training run that the engine needs (the app maps TOML and flags onto these).
struct TrainOptions {
  int64_t steps = 1000;       // optimizer steps of the whole run
  int accum = 1;              // micro-batches per optimizer step
  float lr = 1e-3f;           // peak learning rate
  float min_lr = 1e-4f;       // cosine floor
  int64_t warmup = 100;       // warmup steps
  float weight_decay = 0.1f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float adam_eps = 1e-8f;
  float grad_clip = 1.0f;     // max global gradient norm; <= 0 disables clipping
  uint64_t seed = 1337;       // weight init and data sampling
  int threads = 0;            // 0 = all cores
};

struct StepStats {
  int64_t step = 0;           // 1-based number of this optimizer step
  float loss = 0.0f;          // ce_loss + weighted aux_loss
  float ce_loss = 0.0f;       // mean cross-entropy over all the step's trained tokens
  float aux_loss = 0.0f;      // unweighted, mean over micro-batches
  float lr = 0.0f;            // the learning rate applied (after lr scale)
  float grad_norm = 0.0f;     // before clipping
  bool clipped = false;
  int64_t tokens = 0;         // tokens processed by this step (B * T * accum)
  int64_t trained_tokens = 0; // of those, the ones with a trained target (not kIgnoreTarget)
  double step_s = 0.0;        // wall time of the step by the trainer's clock
  int threads = 0;
  double flops = 0.0;         // matmul-class FLOPs of the step (forward + backward [+ recompute])
  bool interrupted = false;   // abandoned between micro-batches (set_interrupt): nothing changed
};

struct EvalStats {
  float val_loss = 0.0f;      // mean cross-entropy over the batches' trained targets (0 when none)
  int batches = 0;
  int64_t trained_tokens = 0; // targets the mean is over
};

class Trainer {
 public:
  // Builds the model (arenas, init from options.seed) for shape. `train` is required; `val` may be
  // null (evaluate() then fails). The clock measures step time (SteadyClock when null). Sources and
  // clock must outlive the trainer.
  static common::Result<std::unique_ptr<Trainer>> create(const ModelConfig& config, const RunShape& shape,
                                                         const TrainOptions& options, BatchSource* train,
                                                         BatchSource* val, common::Clock* clock = nullptr);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One optimizer step: the mean cross-entropy over all trained tokens of its accum micro-batches
  // (as Hugging Face's num_items_in_batch: with accum > 1 the micro-batches are drawn once to count
  // their trained targets, then again to train), plus the weighted aux loss averaged over them.
  // Packed sources are drawn with next_packed and their positions given to the model.
  // FailedPrecondition-like InvalidArgument when the run is already done;
  // Internal when the loss is not finite (names the step). When the interrupt check (if any) says
  // so between two micro-batches, the step is abandoned: no update, the data position put back,
  // steps_done() unchanged, and the result has `interrupted` set.
  common::Result<StepStats> step();
  // Asked between micro-batches (a step with a large --accum can take minutes). Null: never.
  void set_interrupt(std::function<bool()> check) { interrupt_ = std::move(check); }
  // Mean validation loss over `batches` consecutive batches from the start of the val split
  // (capped at one pass). Does not disturb training state.
  common::Result<EvalStats> evaluate(int batches);

  int64_t steps_done() const { return step_; }
  bool done() const { return step_ >= options_.steps; }
  float lr_for_next_step() const;

  // Knobs, applied from the next step on.
  void set_threads(int n);   // OpenMP and OpenBLAS (one pool); clamped to [1, shape.max_threads]
  int threads() const { return threads_; }
  void set_lr_scale(float scale) { lr_scale_ = scale; }  // e.g. a governor cooling the run
  // LoRA rank of a lora/qlora run (LoraRegistry::set_rank), clamped to [shape.lora.rank_floor,
  // rank capacity]; returns what changed (old == new when nothing did) for the run log.
  // InvalidArgument in full mode.
  common::Result<LoraRankReport> set_lora_rank(int rank);
  int lora_rank() const;  // 0 in full mode
  float lr_scale() const { return lr_scale_; }

  Model& model() { return *model_; }
  const Model& model() const { return *model_; }
  const TrainOptions& options() const { return options_; }
  BatchSource* train_source() { return train_; }

  // Restores progress from a checkpoint (weights and moments are loaded into model() directly).
  void restore_progress(int64_t steps_done, uint64_t train_position) {
    step_ = steps_done;
    train_->seek(train_position);
  }

 private:
  Trainer() = default;
  std::unique_ptr<Model> model_;
  TrainOptions options_;
  LrSchedule schedule_;
  AdamWConfig adamw_;
  BatchSource* train_ = nullptr;
  BatchSource* val_ = nullptr;
  common::Clock* clock_ = nullptr;
  std::unique_ptr<common::Clock> owned_clock_;
  std::unique_ptr<int32_t[]> inputs_;   // (B, T)
  std::unique_ptr<int32_t[]> targets_;  // (B, T)
  std::unique_ptr<int32_t[]> positions_;  // (B, T), drawn from packed sources
  int64_t step_ = 0;
  int threads_ = 1;
  float lr_scale_ = 1.0f;
  std::function<bool()> interrupt_;
};

// One thread count for OpenMP loops and OpenBLAS (they share the OpenMP pool).
void set_compute_threads(int n);
// The thread count parallel loops will use now (set_compute_threads, or OMP_NUM_THREADS, or cores).
int compute_threads();

// Mean cross-entropy of `model` over `batches` consecutive batches of `val` from its start (capped
// at one pass when the source knows its length). Works on training and forward-only models.
common::Result<EvalStats> evaluate_model(Model& model, BatchSource& val, int batches);

}  // namespace trainer
