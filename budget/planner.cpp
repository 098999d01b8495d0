// plan_training / plan_inference / count_params_by_component: sums over tensor lists.
#include "budget/planner.h"

#include <algorithm>
#include <cmath>

#include "common/units.h"
#include "trainer/layers/kind.h"
#include "trainer/layout.h"

namespace budget {

using common::Result;
using common::Status;
using trainer::TensorRole;
using trainer::TensorSpec;

namespace {

// Calibrated against VmHWM of short real runs (see runtime_overhead_bytes): the binary and its
// libraries (~16 MiB resident), the heap and each thread's stack.
constexpr uint64_t kRuntimeBaseBytes = 17 * common::kMiB;
constexpr uint64_t kRuntimePerThreadBytes = 2 * common::kMiB;

constexpr uint64_t kKv3bitGroup = 64;  // values per f16 (scale, zero) pair

uint64_t aligned(uint64_t b) { return trainer::align_up_bytes(b); }

Result<MemoryPlan> plan_from_tensors(const trainer::ModelConfig& model, const RunConfig& run, const RunTensors& tensors,
                                     uint64_t available_bytes);

}  // namespace

uint64_t runtime_overhead_bytes(int threads) {
  const int n = threads > 0 ? threads : trainer::default_max_threads();
  return kRuntimeBaseBytes + kRuntimePerThreadBytes * static_cast<uint64_t>(n);
}

// OpenBLAS (0.3.21, Haswell/Zen single-precision blocking) packs each product through a buffer of
// 32 MiB per calling thread, plus one for the interface: a P x Q panel of A (768 x 384 floats) and
// Q x N of B, N growing to what the buffer holds. Only the pages it writes become resident: the
// panels of the widest product in each buffer, and all of them together no more than one buffer's
// worth. (Measured on QLoRA runs over SmolLM2-135M-, Qwen2.5-0.5B- and Llama-3.2-1B-shaped Q4_K_M
// files, 49K-152K-token LM heads, 2 threads: 13-65 MiB beyond the other items, against the 96 MiB
// that a full buffer per thread would be; tests/integration/qlora_rss_test.sh.)
constexpr uint64_t kBlasBufferBytes = 32 * common::kMiB;
constexpr uint64_t kBlasPanelA = 768 * 384, kBlasPanelQ = 384;

uint64_t runtime_overhead_bytes(int threads, int64_t widest_n) {
  const int n = threads > 0 ? threads : trainer::default_max_threads();
  const uint64_t panels = 4 * (kBlasPanelA + kBlasPanelQ * static_cast<uint64_t>(std::max<int64_t>(widest_n, 0)));
  return runtime_overhead_bytes(threads) + std::min(kBlasBufferBytes, static_cast<uint64_t>(n + 1) * panels);
}

uint64_t MemoryPlan::item_bytes(const std::string& key) const {
  for (const PlanItem& i : items) {
    if (i.key == key) return i.bytes;
  }
  return 0;
}

Result<MemoryPlan> plan_training(const trainer::ModelConfig& model, const RunConfig& run, uint64_t available_bytes) {
  NS_ASSIGN_OR_RETURN(RunTensors tensors, list_plan_tensors(model, run));
  return plan_from_tensors(model, run, tensors, available_bytes);
}

Result<MemoryPlan> plan_training(const trainer::ModelConfig& model, const trainer::RunShape& shape, Optimizer optimizer,
                                 uint64_t available_bytes) {
  // Numbers past the planner's limits are typos, not plans (validate_run_config): no plan for them.
  NS_RETURN_IF_ERROR(validate_run_config(run_config_of(shape, optimizer)));
  NS_ASSIGN_OR_RETURN(RunTensors tensors, list_shape_tensors(model, shape, optimizer));
  return plan_from_tensors(model, run_config_of(shape, optimizer), tensors, available_bytes);
}

namespace {

Result<MemoryPlan> plan_from_tensors(const trainer::ModelConfig& model, const RunConfig& run, const RunTensors& tensors,
                                     uint64_t available_bytes) {
  MemoryPlan plan;
  plan.model = model;
  plan.run = run;
  plan.available_bytes = available_bytes;
  plan.source = tensors.source;
  uint64_t by_role[trainer::kNumTensorRoles] = {};
  int64_t widest_n = model.vocab_size;
  for (const TensorSpec& t : tensors.specs) {
    by_role[static_cast<int>(t.role)] += aligned(t.bytes);
    if (t.role == TensorRole::kWeight) plan.trainable_params += t.numel();
    if (t.linear && t.shape.size() == 2) widest_n = std::max(widest_n, t.shape[0]);  // (out, in); not a quantized blob
  }
  // A base mapped from its file is read whole every step: its pages stay resident, unless the run
  // streams it (then the page cache holds what the budget leaves and the rest comes from disk).
  if (run.mapped_base && run.stream_base) {
    plan.streamed_base_bytes = run.mapped_base_bytes;
  } else if (run.mapped_base) {
    by_role[static_cast<int>(TensorRole::kFrozenWeight)] += run.mapped_base_bytes;
  }
  if (run.mode != trainer::TrainMode::kFull) {
    // A quantized base is listed as byte blobs: count its parameters from the model instead.
    NS_ASSIGN_OR_RETURN(RunTensors fwd, list_forward_tensors(model, 1, 1));
    for (const TensorSpec& t : fwd.specs) {
      if (t.role == TensorRole::kWeight || t.role == TensorRole::kFrozenWeight) plan.frozen_params += t.numel();
    }
  }
  const bool adapters = run.mode != trainer::TrainMode::kFull;
  auto role = [&](TensorRole r) { return by_role[static_cast<int>(r)]; };
  plan.items = {
      {"weights", adapters ? "LoRA adapters (r=" + std::to_string(run.lora_rank) + ")" : "weights (f32)",
       role(TensorRole::kWeight)},
      {"frozen_weights", run.mapped_base ? std::string("frozen base (mapped from its file; norms and embeddings in f32)")
                                        : std::string("frozen base (") + precision_name(run.base_precision) + ")",
       role(TensorRole::kFrozenWeight)},
      {"gradients", "gradients (f32)", role(TensorRole::kGradient)},
      {"optimizer_moments", std::string(optimizer_name(run.optimizer)) + " moments", role(TensorRole::kOptimizerMoment)},
      {"activations", run.grad_checkpoint ? "activations (checkpointed)" : "activations", role(TensorRole::kActivation)},
      {"scratch", "backward scratch", role(TensorRole::kScratch)},
      {"runtime_overhead", "runtime overhead", runtime_overhead_bytes(run.threads, widest_n)},
  };
  for (const PlanItem& i : plan.items) plan.total_bytes += i.bytes;
  return plan;
}

}  // namespace

Result<ParamBreakdown> count_params_by_component(const trainer::ModelConfig& model) {
  NS_ASSIGN_OR_RETURN(RunTensors t, list_forward_tensors(model, 1, 1));
  // Groups in report order: embedding, bridges, each kind's groups in registry order, norms, lm_head.
  std::vector<std::string> order = {"embedding", "bridges"};
  for (const trainer::LayerKindInfo& k : trainer::layer_kinds()) order.insert(order.end(), k.param_groups.begin(), k.param_groups.end());
  order.insert(order.end(), {"norms", "lm_head"});
  std::vector<int64_t> sums(order.size(), 0);
  auto group = [&](const std::string& n) -> std::string {
    if (n == "embed.weight") return "embedding";
    if (n.starts_with("bridge_")) return "bridges";
    if (n == "lm_head.weight") return "lm_head";
    if (n.find("_norm.") != std::string::npos || !n.starts_with("blocks.")) return "norms";
    // blocks.{i}.{kind}.{local name}
    const size_t kind_at = n.find('.', 7) + 1, local_at = n.find('.', kind_at) + 1;
    const std::string kind_name = n.substr(kind_at, local_at - kind_at - 1);
    for (const trainer::LayerKindInfo& k : trainer::layer_kinds()) {
      if (kind_name == k.name) return k.param_group(n.substr(local_at));
    }
    return "norms";
  };
  ParamBreakdown out;
  for (const TensorSpec& s : t.specs) {
    if (s.role != TensorRole::kWeight && s.role != TensorRole::kFrozenWeight) continue;
    const size_t g = std::find(order.begin(), order.end(), group(s.name)) - order.begin();
    sums[g] += s.numel();
    out.total += s.numel();
  }
  out.active_per_token = out.total;
  for (size_t g = 0; g < order.size(); ++g) {
    if (sums[g] == 0) continue;
    out.components.emplace_back(order[g], sums[g]);
    for (const trainer::LayerKindInfo& k : trainer::layer_kinds()) {
      if (k.active_fraction == nullptr || !model.has_layer(k.kind)) continue;
      const double share = k.active_fraction(model, order[g].c_str());
      out.active_per_token -= sums[g] - static_cast<int64_t>(std::llround(static_cast<double>(sums[g]) * share));
    }
  }
  return out;
}

uint64_t InferencePlan::weights_for(Precision p) const {
  for (const auto& [prec, bytes] : weights_bytes) {
    if (prec == p) return bytes;
  }
  return 0;
}

uint64_t InferencePlan::total_bytes(Precision p, int context_index, bool kv_3bit) const {
  const uint64_t kv = kv_3bit ? kv_3bit_bytes[context_index] : kv_plain_bytes[context_index];
  return weights_for(p) + kv + ssm_state_bytes + conv_state_bytes + working_bytes + runtime_overhead_bytes;
}

Result<InferencePlan> plan_inference(const trainer::ModelConfig& model, int threads) {
  NS_ASSIGN_OR_RETURN(RunTensors t, list_forward_tensors(model, 1, 1));
  InferencePlan plan;
  for (Precision p : report_precisions()) {
    uint64_t bytes = 0;
    for (const TensorSpec& s : t.specs) {
      if (s.role != TensorRole::kWeight && s.role != TensorRole::kFrozenWeight) continue;
      bytes += is_linear_matrix(s) ? matrix_bytes(p, s.shape[0], s.shape[1]) : s.bytes;
    }
    plan.weights_bytes.emplace_back(p, bytes);
  }
  for (const TensorSpec& s : t.specs) {
    if (s.role == TensorRole::kActivation || s.role == TensorRole::kScratch) plan.working_bytes += aligned(s.bytes);
  }
  // Per-sequence state, as each block kind reports it (trainer/layers/kind.h).
  std::vector<trainer::InferenceState> states;
  for (const trainer::BlockSpec& b : model.blocks) {
    for (trainer::LayerKind kind : b.layers) states.push_back(trainer::layer_kind_info(kind).inference_state(model));
  }
  for (const trainer::InferenceState& st : states) {
    if (st.kv_values_per_position > 0) ++plan.n_attn_layers;
    if (st.recurrent_bytes > 0) ++plan.n_ssm_layers;
    plan.ssm_state_bytes += st.recurrent_bytes;
    plan.conv_state_bytes += st.conv_bytes;
  }
  for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
    uint64_t values = 0;
    for (const trainer::InferenceState& st : states) {
      uint64_t len = InferencePlan::kContexts[i];
      if (st.max_positions > 0) len = std::min<uint64_t>(len, st.max_positions);
      values += len * st.kv_values_per_position;
    }
    plan.kv_plain_bytes[i] = values * 2;
    plan.kv_3bit_bytes[i] = (values * 3 + 7) / 8 + (values + kKv3bitGroup - 1) / kKv3bitGroup * 4;
  }
  plan.runtime_overhead_bytes = runtime_overhead_bytes(threads);
  return plan;
}

}  // namespace budget
