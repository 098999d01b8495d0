// plan_training / plan_inference / count_params_by_component: sums over tensor lists.
#include "budget/planner.h"

#include <algorithm>

#include "common/units.h"
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

}  // namespace

uint64_t runtime_overhead_bytes(int threads) {
  const int n = threads > 0 ? threads : trainer::default_max_threads();
  return kRuntimeBaseBytes + kRuntimePerThreadBytes * static_cast<uint64_t>(n);
}

uint64_t MemoryPlan::item_bytes(const std::string& key) const {
  for (const PlanItem& i : items) {
    if (i.key == key) return i.bytes;
  }
  return 0;
}

Result<MemoryPlan> plan_training(const trainer::ModelConfig& model, const RunConfig& run, uint64_t available_bytes) {
  NS_ASSIGN_OR_RETURN(RunTensors tensors, list_plan_tensors(model, run));
  MemoryPlan plan;
  plan.model = model;
  plan.run = run;
  plan.available_bytes = available_bytes;
  plan.source = tensors.source;
  uint64_t by_role[trainer::kNumTensorRoles] = {};
  for (const TensorSpec& t : tensors.specs) {
    by_role[static_cast<int>(t.role)] += aligned(t.bytes);
    if (t.role == TensorRole::kWeight) plan.trainable_params += t.numel();
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
      {"frozen_weights", std::string("frozen base (") + precision_name(run.base_precision) + ")",
       role(TensorRole::kFrozenWeight)},
      {"gradients", "gradients (f32)", role(TensorRole::kGradient)},
      {"optimizer_moments", std::string(optimizer_name(run.optimizer)) + " moments", role(TensorRole::kOptimizerMoment)},
      {"activations", run.grad_checkpoint ? "activations (checkpointed)" : "activations", role(TensorRole::kActivation)},
      {"scratch", "backward scratch", role(TensorRole::kScratch)},
      {"runtime_overhead", "runtime overhead", runtime_overhead_bytes(run.threads)},
  };
  for (const PlanItem& i : plan.items) plan.total_bytes += i.bytes;
  return plan;
}

Result<ParamBreakdown> count_params_by_component(const trainer::ModelConfig& model) {
  NS_ASSIGN_OR_RETURN(RunTensors t, list_forward_tensors(model, 1, 1));
  static const char* kOrder[] = {"embedding", "bridges", "attention", "mlp",    "ssm",
                                 "moe experts", "moe shared expert", "moe router", "norms", "lm_head"};
  int64_t sums[std::size(kOrder)] = {};
  auto slot = [&](const std::string& n) -> int {
    if (n == "embed.weight") return 0;
    if (n.starts_with("bridge_")) return 1;
    if (n == "lm_head.weight") return 9;
    if (n.find("_norm.") != std::string::npos) return 8;
    if (n.find(".attn.") != std::string::npos) return 2;
    if (n.find(".mlp.") != std::string::npos) return 3;
    if (n.find(".ssm.") != std::string::npos) return 4;
    if (n.find(".moe.experts.") != std::string::npos) return 5;
    if (n.find(".moe.shared.") != std::string::npos) return 6;
    if (n.find(".moe.") != std::string::npos) return 7;
    return 8;
  };
  ParamBreakdown out;
  for (const TensorSpec& s : t.specs) {
    if (s.role != TensorRole::kWeight && s.role != TensorRole::kFrozenWeight) continue;
    sums[slot(s.name)] += s.numel();
    out.total += s.numel();
  }
  for (size_t i = 0; i < std::size(kOrder); ++i) {
    if (sums[i] > 0) out.components.emplace_back(kOrder[i], sums[i]);
  }
  out.active_per_token = out.total;
  if (model.has_layer(trainer::LayerKind::kMoe) && model.moe.n_experts > 0) {
    const int64_t idle = model.moe.n_experts - model.moe.top_k;
    out.active_per_token -= sums[5] / model.moe.n_experts * idle;
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
  plan.n_attn_layers = model.n_layers_of(trainer::LayerKind::kAttn);
  plan.n_ssm_layers = model.n_layers_of(trainer::LayerKind::kSsm);
  const uint64_t kv_width = static_cast<uint64_t>(model.kv_heads()) * model.head_dim();
  for (int i = 0; i < InferencePlan::kNumContexts; ++i) {
    uint64_t len = InferencePlan::kContexts[i];
    if (model.attn.window > 0) len = std::min<uint64_t>(len, model.attn.window);
    const uint64_t values = 2 * len * kv_width * plan.n_attn_layers;  // K and V
    plan.kv_plain_bytes[i] = values * 2;
    plan.kv_3bit_bytes[i] = (values * 3 + 7) / 8 + (values + kKv3bitGroup - 1) / kKv3bitGroup * 4;
  }
  const uint64_t Di = model.inner_dim();
  plan.ssm_state_bytes = plan.n_ssm_layers * Di * model.ssm.d_state * 4;
  plan.conv_state_bytes = plan.n_ssm_layers * Di * std::max(0, model.ssm.d_conv - 1) * 4;
  plan.runtime_overhead_bytes = runtime_overhead_bytes(threads);
  return plan;
}

}  // namespace budget
