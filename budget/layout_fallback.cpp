// list_run_tensors_fallback: mirrors trainer/layout.cpp's assembly; sub-layers without an engine
// implementation are listed from ssm_block.h's buffer specs (ssm) or docs/model.md (moe).
#include "budget/layout_fallback.h"

#include <set>
#include <string>

#include "common/check.h"
#include "trainer/layers/layer.h"
#include "trainer/lora/plan.h"
#include "trainer/layers/ssm_block.h"

namespace budget {

using common::Result;
using common::Status;
using trainer::DType;
using trainer::LayerKind;
using trainer::TensorInit;
using trainer::TensorRole;
using trainer::TensorSpec;

namespace {

constexpr auto kW = TensorRole::kWeight, kA = TensorRole::kActivation, kS = TensorRole::kScratch;

void add(std::vector<TensorSpec>* out, std::string name, std::vector<int64_t> shape, TensorRole role,
         TensorInit init = TensorInit::kNone, bool decay = false, DType dtype = DType::kF32, bool linear = false) {
  TensorSpec t;
  t.linear = linear;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.role = role;
  t.init = init;
  t.decay = decay;
  t.dtype = dtype;
  out->push_back(std::move(t));
}

// ssm: weights with their docs/model.md shapes; activations and scratch sized by the engine's own
// ssm_block.h specs (flat), so the plan follows the engine's SSM buffers exactly.
void list_ssm(const trainer::ModelConfig& c, const trainer::RunShape& shape, std::vector<TensorSpec>* out) {
  const trainer::SsmDims d = trainer::ssm_dims(c, shape.batch, shape.seq_len);
  const int64_t D = d.D, Di = d.Di, N = d.N, R = d.R, K = d.K;
  const auto normal = TensorInit::kNormal, custom = TensorInit::kCustom, zeros = TensorInit::kZeros;
  add(out, "in_proj.weight", {2 * Di, D}, kW, normal, true, DType::kF32, true);
  add(out, "conv.weight", {Di, K}, kW, normal, false);
  add(out, "conv.bias", {Di}, kW, zeros, false);
  add(out, "x_proj.weight", {R + 2 * N, Di}, kW, normal, true, DType::kF32, true);
  add(out, "dt_proj.weight", {Di, R}, kW, normal, true, DType::kF32, true);
  add(out, "dt_proj.bias", {Di}, kW, custom, false);
  add(out, "A_log", {Di, N}, kW, custom, false);
  add(out, "D", {Di}, kW, custom, false);
  add(out, "out_proj.weight", {D, Di}, kW, normal, true, DType::kF32, true);
  trainer::SsmBufferSpec acts[trainer::kSsmActivationCount];
  trainer::ssm_activation_specs(d, acts);
  for (const trainer::SsmBufferSpec& s : acts) add(out, s.name, {static_cast<int64_t>(s.floats)}, kA);
  if (shape.training) {
    trainer::SsmBufferSpec scratch[trainer::kSsmScratchCount];
    trainer::ssm_scratch_specs(d, scratch);
    for (const trainer::SsmBufferSpec& s : scratch) add(out, s.name, {static_cast<int64_t>(s.floats)}, kS);
  }
}

// moe (docs/model.md): router softmax, top-k of X SwiGLU experts over the tokens routed to each
// (M·k rows in all, no capacity dropping), optional shared expert over all M = B·T rows.
void list_moe(const trainer::ModelConfig& c, const trainer::RunShape& shape, std::vector<TensorSpec>* out) {
  const int64_t M = int64_t{shape.batch} * shape.seq_len, D = c.d_model, X = c.moe.n_experts, k = c.moe.top_k;
  const int64_t Fe = c.expert_dim(), Fs = c.shared_dim(), Mk = M * k;
  const auto normal = TensorInit::kNormal;
  add(out, "router.weight", {X, D}, kW, normal, true, DType::kF32, true);
  for (int64_t e = 0; e < X; ++e) {
    const std::string p = "experts." + std::to_string(e) + ".";
    add(out, p + "gate.weight", {Fe, D}, kW, normal, true, DType::kF32, true);
    add(out, p + "up.weight", {Fe, D}, kW, normal, true, DType::kF32, true);
    add(out, p + "down.weight", {D, Fe}, kW, normal, true, DType::kF32, true);
  }
  if (c.moe.shared_expert) {
    add(out, "shared.gate.weight", {Fs, D}, kW, normal, true, DType::kF32, true);
    add(out, "shared.up.weight", {Fs, D}, kW, normal, true, DType::kF32, true);
    add(out, "shared.down.weight", {D, Fs}, kW, normal, true, DType::kF32, true);
  }
  add(out, "probs", {M, X}, kA);                              // router softmax
  add(out, "topk_index", {M, k}, kA, TensorInit::kNone, false, DType::kI32);
  add(out, "topk_gate", {M, k}, kA);                          // renormalised gates
  add(out, "routed_in", {Mk, D}, kA);                         // xn gathered by expert
  add(out, "expert_gate", {Mk, Fe}, kA);
  add(out, "expert_up", {Mk, Fe}, kA);
  add(out, "expert_h", {Mk, Fe}, kA);
  add(out, "expert_out", {Mk, D}, kA);                        // per assignment, before the gate weight
  if (c.moe.shared_expert) {
    add(out, "shared_gate", {M, Fs}, kA);
    add(out, "shared_up", {M, Fs}, kA);
    add(out, "shared_h", {M, Fs}, kA);
  }
  if (shape.training) {
    add(out, "dh", {Mk, std::max(Fe, Fs)}, kS);
    add(out, "dgate", {Mk, std::max(Fe, Fs)}, kS);
    add(out, "dup", {Mk, std::max(Fe, Fs)}, kS);
    add(out, "drouted", {Mk, D}, kS);
    add(out, "dprobs", {M, X}, kS);
  }
}

class SpecList {
 public:
  void add(TensorSpec t) {
    t.bytes = static_cast<uint64_t>(t.numel()) * trainer::dtype_size(t.dtype);
    CHECK_MSG(names_.insert(t.name).second, t.name.c_str());
    specs_.push_back(std::move(t));
  }
  void add(std::string name, std::vector<int64_t> shape, TensorRole role, TensorInit init = TensorInit::kNone,
           bool decay = false, DType dtype = DType::kF32) {  // never `linear`: model-level tensors
    std::vector<TensorSpec> one;
    budget::add(&one, std::move(name), std::move(shape), role, init, decay, dtype);
    add(std::move(one.front()));
  }
  bool has(const std::string& name) const { return names_.count(name) > 0; }
  std::vector<TensorSpec> take() { return std::move(specs_); }

 private:
  std::vector<TensorSpec> specs_;
  std::set<std::string> names_;
};

}  // namespace

Status list_sublayer_tensors(LayerKind kind, const trainer::ModelConfig& config, const trainer::RunShape& shape,
                             int max_threads, std::vector<TensorSpec>* out, bool* engine) {
  trainer::LayerShape ls{shape.batch, shape.seq_len, max_threads, shape.training};
  Result<std::unique_ptr<trainer::Layer>> layer = trainer::make_layer(kind, config, ls);
  if (layer.ok()) {
    (*layer)->list_tensors(out);
    *engine = true;
    return Status::Ok();
  }
  if (layer.status().code() != common::StatusCode::kUnavailable) return layer.status();
  *engine = false;
  switch (kind) {
    case LayerKind::kSsm: list_ssm(config, shape, out); return Status::Ok();
    case LayerKind::kMoe: list_moe(config, shape, out); return Status::Ok();
    default: return layer.status();
  }
}

Result<std::vector<TensorSpec>> list_run_tensors_fallback(const trainer::ModelConfig& c,
                                                          const trainer::RunShape& shape) {
  NS_RETURN_IF_ERROR(trainer::validate_model_config(c, "model '" + c.name + "'"));
  if (shape.batch < 1) return Status::InvalidArgument("batch must be at least 1, got " + std::to_string(shape.batch));
  if (shape.seq_len < 1) {
    return Status::InvalidArgument("sequence length must be at least 1, got " + std::to_string(shape.seq_len));
  }
  NS_RETURN_IF_ERROR(trainer::validate_lora_settings(shape));
  const int max_threads = shape.max_threads > 0 ? shape.max_threads : trainer::default_max_threads();
  const int64_t B = shape.batch, T = shape.seq_len, D = c.d_model, E = c.embed_dim(), V = c.vocab_size;
  const bool train = shape.training;
  const bool shared_internals = shape.grad_checkpoint || !train;

  SpecList weights, acts, scratch;
  // lora/qlora: every weight of the base is frozen; only the adapters (trainer/lora/plan.h) train.
  const TensorRole W = shape.mode == trainer::TrainMode::kFull ? kW : TensorRole::kFrozenWeight;
  std::set<std::string> lora_matched;
  weights.add("embed.weight", {V, E}, W, TensorInit::kNormal, true);
  if (c.has_bridge()) weights.add("bridge_in.weight", {D, E}, W, TensorInit::kNormal, true);
  acts.add("act.tokens", {B, T}, kA, TensorInit::kNone, false, DType::kI32);
  acts.add("act.targets", {B, T}, kA, TensorInit::kNone, false, DType::kI32);
  if (c.has_bridge()) acts.add("act.embed", {B, T, E}, kA);

  std::set<LayerKind> kinds_with_scratch;
  int s_index = 0;
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const trainer::BlockSpec& spec = c.blocks[i];
    const std::string spec_name = trainer::block_spec_to_string(spec);
    const std::string bi = std::to_string(i);
    if (shared_internals) acts.add("act.block_in." + bi, {B, T, D}, kA);
    for (size_t j = 0; j < spec.layers.size(); ++j, ++s_index) {
      const LayerKind kind = spec.layers[j];
      const std::string ks = trainer::layer_kind_name(kind);
      const bool first = j == 0, last = j + 1 == spec.layers.size();
      const std::string wprefix = "blocks." + bi + "." + ks + ".";
      const std::string act_base = shared_internals ? "act.recompute." + spec_name + "." : "act.blocks." + bi + ".";
      const bool list_acts = !shared_internals || !acts.has(act_base + ks + "_norm.rstd");
      weights.add("blocks." + bi + "." + ks + "_norm.weight", {D}, W, TensorInit::kOnes, false);
      if (list_acts) {
        acts.add(act_base + ks + "_norm.rstd", {B, T}, kA);
        acts.add(act_base + ks + "_norm.out", {B, T, D}, kA);
      }
      if (shared_internals) {
        if (!last && list_acts) acts.add(act_base + "res." + std::to_string(j + 1), {B, T, D}, kA);
      } else {
        if (s_index == 0) acts.add("act.res." + std::to_string(s_index), {B, T, D}, kA);
        acts.add("act.res." + std::to_string(s_index + 1), {B, T, D}, kA);
      }
      (void)first;
      std::vector<TensorSpec> local;
      bool engine = false;
      NS_RETURN_IF_ERROR(list_sublayer_tensors(kind, c, shape, max_threads, &local, &engine));
      NS_RETURN_IF_ERROR(trainer::lora_adapt_layer_tensors(shape, &local, wprefix, &lora_matched));
      for (TensorSpec& t : local) {
        const std::string local_name = t.name;
        if (t.role == TensorRole::kWeight || t.role == TensorRole::kFrozenWeight) {
          t.name = wprefix + local_name;
          weights.add(std::move(t));
        } else if (t.role == TensorRole::kActivation) {
          t.name = act_base + ks + "." + local_name;
          if (list_acts) acts.add(std::move(t));
        } else if (t.role == TensorRole::kScratch) {
          t.name = "scratch." + ks + "." + local_name;
          if (!kinds_with_scratch.count(kind)) scratch.add(std::move(t));
        }
      }
      kinds_with_scratch.insert(kind);
    }
  }
  NS_RETURN_IF_ERROR(trainer::lora_check_targets_matched(shape, lora_matched, c.name));
  if (shared_internals) acts.add("act.block_in." + std::to_string(c.blocks.size()), {B, T, D}, kA);

  weights.add("final_norm.weight", {D}, W, TensorInit::kOnes, false);
  if (c.has_bridge()) weights.add("bridge_out.weight", {E, D}, W, TensorInit::kNormal, true);
  if (!c.tied_embedding) weights.add("lm_head.weight", {V, E}, W, TensorInit::kNormal, true);

  acts.add("act.final_norm.rstd", {B, T}, kA);
  acts.add("act.final_norm.out", {B, T, D}, kA);
  if (c.has_bridge()) acts.add("act.bridge_out", {B, T, E}, kA);
  acts.add("act.logits", {B, T, V}, kA);
  acts.add("act.lse", {B, T}, kA);
  if (train) {
    scratch.add("scratch.dres", {B, T, D}, kS);
    scratch.add("scratch.dxn", {B, T, D}, kS);
    if (c.has_bridge()) scratch.add("scratch.dhead", {B, T, E}, kS);
  }

  std::vector<TensorSpec> w = weights.take();
  SpecList all;
  for (const TensorSpec& t : w) all.add(t);
  if (train) {
    for (const char* prefix : {"grad.", "adam_m.", "adam_v."}) {
      const TensorRole role = prefix[0] == 'g' ? TensorRole::kGradient : TensorRole::kOptimizerMoment;
      for (const TensorSpec& t : w) {
        if (t.role != TensorRole::kWeight) continue;
        all.add(prefix + t.name, t.shape, role);
      }
    }
  }
  for (TensorSpec& t : acts.take()) all.add(std::move(t));
  for (TensorSpec& t : scratch.take()) all.add(std::move(t));
  return all.take();
}

}  // namespace budget
