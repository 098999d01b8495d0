// The memory planner: (model, run config, available bytes) -> an itemized plan, and the inference
// side (weights by precision, KV cache by context, SSM state). Pure: it sums tensor lists
// (run_tensors.h) and never allocates a tensor, so a 6B-parameter model plans in milliseconds.
// Training items are the engine's arena sizes per lifetime class (64-byte aligned, as allocated)
// plus the process's runtime overhead (binary, libraries, thread stacks, BLAS buffers, allocator).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "budget/precision.h"
#include "budget/run_config.h"
#include "budget/run_tensors.h"
#include "common/status.h"
#include "trainer/model_config.h"

namespace budget {

// Resident memory of a nightshift process beyond its arenas: code and libraries, OpenMP/OpenBLAS
// thread stacks and packing buffers, the allocator, the run log and the tokenizer. Measured on
// short real runs (tests/integration/budget_rss_test.sh); `threads` 0 = all cores.
uint64_t runtime_overhead_bytes(int threads);
// The same plus OpenBLAS's packing buffers, which grow with the widest product the run multiplies:
// `widest_n` columns of output (the vocabulary for the LM head, else the widest linear layer).
uint64_t runtime_overhead_bytes(int threads, int64_t widest_n);

struct PlanItem {
  std::string key;    // stable JSON key: "weights", "frozen_weights", "gradients", "optimizer_moments",
                      // "activations", "scratch", "runtime_overhead"
  std::string label;  // for people: "LoRA adapters", "frozen base (nf4)", ...
  uint64_t bytes = 0;
};

struct MemoryPlan {
  trainer::ModelConfig model;
  RunConfig run;
  std::vector<PlanItem> items;   // every key above, in that order (zero items included)
  uint64_t total_bytes = 0;
  uint64_t available_bytes = 0;
  // A streamed base (RunConfig::stream_base): its file-backed bytes, read through the page cache and
  // not part of total_bytes. 0 otherwise.
  uint64_t streamed_base_bytes = 0;
  int64_t trainable_params = 0;
  int64_t frozen_params = 0;
  LayoutSource source = LayoutSource::kEngine;

  bool fits() const { return total_bytes <= available_bytes; }
  // available - total: positive is the headroom left, negative how much is missing.
  int64_t margin_bytes() const { return static_cast<int64_t>(available_bytes) - static_cast<int64_t>(total_bytes); }
  uint64_t item_bytes(const std::string& key) const;  // 0 for an unknown key
};

// InvalidArgument for a bad model or run config.
common::Result<MemoryPlan> plan_training(const trainer::ModelConfig& model, const RunConfig& run,
                                         uint64_t available_bytes);
// The same for the very RunShape a run builds its model with (`nightshift train`): the plan sums
// that shape's tensor list, so it equals the arenas' bytes role by role.
common::Result<MemoryPlan> plan_training(const trainer::ModelConfig& model, const trainer::RunShape& shape,
                                         Optimizer optimizer, uint64_t available_bytes);

// Parameters by component (from the weight names of docs/model.md).
struct ParamBreakdown {
  std::vector<std::pair<std::string, int64_t>> components;  // non-zero ones, in a fixed order
  int64_t total = 0;
  int64_t active_per_token = 0;  // total minus the experts a token does not visit (X - k of X)
};
common::Result<ParamBreakdown> count_params_by_component(const trainer::ModelConfig& model);

// Inference at batch 1, generating token by token.
struct InferencePlan {
  static constexpr int kNumContexts = 5;
  static constexpr int kContexts[kNumContexts] = {1024, 4096, 16384, 32768, 65536};
  std::vector<std::pair<Precision, uint64_t>> weights_bytes;  // report_precisions() order
  uint64_t kv_plain_bytes[kNumContexts] = {};   // K and V in f16 (a sliding window caps the length)
  uint64_t kv_3bit_bytes[kNumContexts] = {};    // 3-bit codes + f16 scale and zero per 64 values
  uint64_t ssm_state_bytes = 0;                 // scan state (Di, N) per ssm layer, f32
  uint64_t conv_state_bytes = 0;                // conv history (K-1, Di) per ssm layer, f32
  uint64_t working_bytes = 0;                   // one token's forward working set (fp32)
  uint64_t runtime_overhead_bytes = 0;
  int n_attn_layers = 0, n_ssm_layers = 0;

  uint64_t weights_for(Precision p) const;
  // weights(p) + KV(context index, plain or 3-bit) + SSM and conv state + working set + overhead.
  uint64_t total_bytes(Precision p, int context_index, bool kv_3bit = false) const;
};
common::Result<InferencePlan> plan_inference(const trainer::ModelConfig& model, int threads = 1);

}  // namespace budget
