// RunConfig: the training run the planner sizes — mode, frozen-base precision, LoRA rank and
// targets, optimizer, micro-batch, sequence length, gradient checkpointing, threads — with the
// defaults a planning user gets when they give nothing, and validation of absurd values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "budget/precision.h"
#include "common/status.h"
#include "trainer/layout.h"

namespace budget {

enum class Optimizer {
  kAdamW,  // two fp32 moments per trainable parameter (the engine's optimizer)
  kSgd,    // no optimizer state
};
const char* optimizer_name(Optimizer o);  // "adamw", "sgd"
common::Result<Optimizer> parse_optimizer(std::string_view name);
common::Result<trainer::TrainMode> parse_train_mode(std::string_view name);  // "full", "lora", "qlora"

struct RunConfig {
  trainer::TrainMode mode = trainer::TrainMode::kFull;
  // Storage of the frozen linear weights in lora/qlora (ignored in full), as the engine supports
  // it: lora f32/f16/bf16 (default f32), qlora nf4/nf4-dq/q8 (default nf4-dq, as train). Use
  // default_base_precision(mode) unless the user chose one.
  Precision base_precision = Precision::kF32;
  // The frozen base stays memory-mapped in its model file's own types (a GGUF, trainer's
  // LoraSettings::mapped_base): its linear weights are file-backed pages, outside the plan's arenas;
  // base_precision is then not checked.
  bool mapped_base = false;
  uint64_t mapped_base_bytes = 0;        // with mapped_base: those weights' bytes (resident while training)
  // With mapped_base: the "streamed" tier. The base's pages are file-backed and may be evicted, so
  // the plan lists them apart (MemoryPlan::streamed_base_bytes) and leaves them out of the total.
  bool stream_base = false;
  int lora_rank = 16;                    // adapter rank r at the start (lora/qlora)
  int lora_rank_max = 0;                 // adapters are allocated for this rank; 0 = lora_rank
  // Matrices that get adapters, by their local name ("q", "k", "v", "o", "gate", "up", "down",
  // "in_proj", "out_proj", "x_proj", "dt_proj", "router"); empty = trainer::default_lora_targets().
  std::vector<std::string> lora_targets;
  Optimizer optimizer = Optimizer::kAdamW;
  int micro_batch = 1;                   // B
  int seq_len = 512;                     // T
  bool grad_checkpoint = false;
  int threads = 0;                       // 0 = all cores (sizes per-thread scratch)
};

Precision default_base_precision(trainer::TrainMode mode);

// Limits beyond which a number is a typo rather than a plan.
constexpr int kMaxSeqLen = 1 << 20;
constexpr int kMaxMicroBatch = 4096;
constexpr int kMaxLoraRank = 4096;
constexpr int kMaxThreads = 4096;

// InvalidArgument naming the field for out-of-range numbers, unknown targets, or a base precision
// the mode cannot train on.
common::Status validate_run_config(const RunConfig& run);

// The engine's RunShape of a training run (LoRA settings included), and back: a RunShape as the
// planner's RunConfig (for reports). run_shape(run_config_of(s)) == s for every training shape.
trainer::RunShape run_shape(const RunConfig& run);
RunConfig run_config_of(const trainer::RunShape& shape, Optimizer optimizer = Optimizer::kAdamW);

}  // namespace budget
