// Run layout: ONE function lists every tensor a run needs — weights, gradients, AdamW moments,
// saved activations and backward scratch — with name, shape, dtype, role and bytes. The engine
// allocates its arenas (one per role) from exactly this list, and the budget planner sums the same
// list, so plan and allocation agree by construction. Pure: it never allocates tensors, so it can be
// called for models far larger than the machine (a 3B-parameter plan is just a list).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/lora/settings.h"
#include "trainer/model_config.h"
#include "trainer/formats/safetensors.h"  // DType

namespace trainer {

// Lifetime classes. Each role is one arena in a running model.
enum class TensorRole {
  kWeight,           // trainable parameter (persistent, checkpointed)
  kFrozenWeight,     // parameter that is not trained (LoRA/QLoRA base; persistent, checkpointed)
  kGradient,         // gradient of a trainable weight (zeroed every optimizer step)
  kOptimizerMoment,  // AdamW first/second moments m, v (persistent, checkpointed)
  kActivation,       // saved in forward for backward, or the forward working set (per micro-batch)
  kScratch,          // backward working memory, shared by every sub-layer of one kind
};
constexpr int kNumTensorRoles = 6;
const char* tensor_role_name(TensorRole role);  // "weight", "frozen_weight", "gradient", ...

// How a weight is initialised (deterministic from the run's seed).
enum class TensorInit {
  kNone,    // not a weight
  kNormal,  // normal(0, init_std)
  kOnes,    // RMSNorm weights
  kZeros,
  kCustom,  // the layer's own rule (Layer::init_custom), e.g. SSM A_log, dt_proj.bias
};

enum class TrainMode { kFull, kLora, kQlora };
const char* train_mode_name(TrainMode mode);  // "full", "lora", "qlora"

// The run's fixed shape. Changing any field after the first step is an error (no reallocation).
struct RunShape {
  int batch = 1;                 // B: micro-batch size
  int seq_len = 64;              // T
  bool grad_checkpoint = false;  // keep only block inputs; recompute each block in backward
  bool training = true;          // false: forward only (eval, sampling): no gradients, moments, scratch
  TrainMode mode = TrainMode::kFull;
  int lora_rank = 0;             // LoRA/QLoRA adapter rank at the start (ignored in kFull)
  LoraSettings lora;             // capacity, scale, targets, base storage (ignored in kFull)
  int max_threads = 0;           // per-thread scratch is sized for this many threads; 0 = all cores
  // The LM head and its loss (trainer/lm_head.h): 0 keeps the whole logits (B, T, V), which sampling
  // and logit dumps read; > 0 fuses them over chunks of at most this many trained rows, so only
  // (chunk, V) logits exist (Model::logits() is then null); kHeadChunkAuto picks the chunk from V.
  int head_chunk = 0;
};
constexpr int kHeadChunkAuto = -1;
// The rows per LM-head chunk of a run (0: not fused). Auto: logits of at most about 64 MiB in a
// multiple of 64 rows, 128 rows at least, never more than B*T.
int head_chunk_rows(const RunShape& shape, int vocab_size);

struct TensorSpec {
  std::string name;              // e.g. "blocks.0.attn.q.weight", "grad.embed.weight", "act.logits"
  std::vector<int64_t> shape;    // row-major
  DType dtype = DType::kF32;
  TensorRole role = TensorRole::kWeight;
  uint64_t bytes = 0;            // numel * dtype_size (unpadded; see arena_bytes for the padded total)
  TensorInit init = TensorInit::kNone;  // weights only
  bool decay = false;            // weights only: AdamW applies decoupled weight decay
  bool linear = false;           // a 2-D (out, in) weight the layer applies through Linear (layer.h):
                                 // lora/qlora may freeze, quantize and adapt it
  int64_t numel() const;
};

// Naming (see docs/model.md for weights):
//   weights        as in docs/model.md ("embed.weight", "blocks.3.mlp.up.weight", ...)
//   gradients      "grad." + weight name            (role kGradient, same shape)
//   moments        "adam_m." / "adam_v." + weight name (role kOptimizerMoment, same shape)
//   activations    "act.tokens", "act.targets", "act.doc_start", "act.rope_pos" (I32), "act.res.{s}" residual stream before sub-layer s,
//                  "act.blocks.{i}.{kind}.{name}" per sub-layer; with grad_checkpoint, block inputs
//                  "act.block_in.{i}" plus one recompute region per distinct block spec,
//                  "act.recompute.{spec}.{kind}.{name}" (e.g. "act.recompute.attn+mlp.attn.q"),
//                  final "act.final.*", "act.logits" (B, T, V), or with a head chunk C "act.logits"
//                  (C, V), "act.lse" (C), "act.head.rows" (C, E), "act.head.index"/"act.head.targets" (C)
//                  and in training "scratch.head.drows" (C, E)
//   scratch        "scratch.{name}" (model level) and "scratch.{kind}.{name}" (one set per layer kind)
//
// Errors: InvalidArgument for a config that fails validation or a non-positive batch/seq_len;
// Unavailable when a block kind has no layer implementation in this build; InvalidArgument for
// LoRA settings that do not fit the mode or the model (trainer/lora/plan.h).
common::Result<std::vector<TensorSpec>> list_run_tensors(const ModelConfig& config, const RunShape& shape);

// Every arena places each tensor at a kArenaAlignBytes-aligned offset.
constexpr uint64_t kArenaAlignBytes = 64;
uint64_t align_up_bytes(uint64_t bytes);

// Per-role totals of a layout: `bytes` is the plain sum, `arena_bytes` includes alignment padding
// (what the engine actually allocates for that role).
struct LayoutTotals {
  std::array<uint64_t, kNumTensorRoles> bytes{};
  std::array<uint64_t, kNumTensorRoles> arena_bytes{};
  std::array<int64_t, kNumTensorRoles> count{};
  uint64_t total_bytes() const;
  uint64_t total_arena_bytes() const;
  int64_t trainable_params = 0;  // sum of numel over kWeight
  int64_t frozen_params = 0;     // sum of numel over kFrozenWeight
};
LayoutTotals summarize_layout(const std::vector<TensorSpec>& specs);

// Number of parameters of a model (weights of any role), independent of batch/seq.
common::Result<int64_t> count_parameters(const ModelConfig& config);

// The hardware thread count used when RunShape::max_threads is 0.
int default_max_threads();

}  // namespace trainer
