// list_run_tensors and the RunPlan behind it: walks the model config block by block, asks each
// sub-layer for its tensors, and names, shapes and classifies everything the run will allocate.
#include <omp.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/check.h"
#include "trainer/layout.h"
#include "trainer/lora/plan.h"
#include "trainer/run_plan.h"

namespace trainer {

using common::Result;
using common::Status;

const char* tensor_role_name(TensorRole role) {
  switch (role) {
    case TensorRole::kWeight: return "weight";
    case TensorRole::kFrozenWeight: return "frozen_weight";
    case TensorRole::kGradient: return "gradient";
    case TensorRole::kOptimizerMoment: return "optimizer_moment";
    case TensorRole::kActivation: return "activation";
    case TensorRole::kScratch: return "scratch";
  }
  return "?";
}

const char* train_mode_name(TrainMode mode) {
  switch (mode) {
    case TrainMode::kFull: return "full";
    case TrainMode::kLora: return "lora";
    case TrainMode::kQlora: return "qlora";
  }
  return "?";
}

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t align_up_bytes(uint64_t bytes) { return (bytes + kArenaAlignBytes - 1) / kArenaAlignBytes * kArenaAlignBytes; }

uint64_t LayoutTotals::total_bytes() const {
  uint64_t t = 0;
  for (uint64_t b : bytes) t += b;
  return t;
}

uint64_t LayoutTotals::total_arena_bytes() const {
  uint64_t t = 0;
  for (uint64_t b : arena_bytes) t += b;
  return t;
}

LayoutTotals summarize_layout(const std::vector<TensorSpec>& specs) {
  LayoutTotals t;
  for (const TensorSpec& s : specs) {
    const int r = static_cast<int>(s.role);
    t.bytes[r] += s.bytes;
    t.arena_bytes[r] += align_up_bytes(s.bytes);
    t.count[r] += 1;
    if (s.role == TensorRole::kWeight) t.trainable_params += s.numel();
    if (s.role == TensorRole::kFrozenWeight) t.frozen_params += s.numel();
  }
  return t;
}

int default_max_threads() { return std::max(1, omp_get_num_procs()); }

namespace {

class SpecList {
 public:
  void add(std::string name, std::vector<int64_t> shape, TensorRole role, TensorInit init = TensorInit::kNone,
           bool decay = false, DType dtype = DType::kF32) {
    TensorSpec t;
    t.name = std::move(name);
    t.shape = std::move(shape);
    t.dtype = dtype;
    t.role = role;
    t.init = init;
    t.decay = decay;
    add(std::move(t));
  }
  void add(TensorSpec t) {
    t.bytes = static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype);
    CHECK_MSG(names_.insert(t.name).second, t.name.c_str());
    specs_.push_back(std::move(t));
  }
  bool has(const std::string& name) const { return names_.count(name) > 0; }
  std::vector<TensorSpec> take() { return std::move(specs_); }

 private:
  std::vector<TensorSpec> specs_;
  std::set<std::string> names_;
};

std::string kind_str(LayerKind k) { return layer_kind_name(k); }

}  // namespace

int head_chunk_rows(const RunShape& shape, int vocab_size) {
  const int64_t N = int64_t{shape.batch} * shape.seq_len;
  if (shape.head_chunk == 0 || N < 1 || vocab_size < 1) return 0;
  int64_t rows = shape.head_chunk;
  if (shape.head_chunk == kHeadChunkAuto) {
    // Every chunk streams the head twice and its gradient once, so chunks cost time: keep them
    // large (a whole short batch is one chunk), in multiples of 64 rows, 128 at least (smaller
    // products fall well below the machine's sgemm rate: bench/lm_head_bench).
    constexpr int64_t kLogitBytes = int64_t{64} << 20, kMinRows = 128;
    rows = std::max<int64_t>(kMinRows, kLogitBytes / (int64_t{4} * vocab_size) / 64 * 64);
  }
  return static_cast<int>(std::min(rows, N));
}

Result<RunPlan> make_run_plan(const ModelConfig& c, const RunShape& shape) {
  NS_RETURN_IF_ERROR(validate_model_config(c, "model '" + c.name + "'"));
  if (shape.batch < 1) return Status::InvalidArgument("batch must be at least 1, got " + std::to_string(shape.batch));
  if (shape.seq_len < 1) {
    return Status::InvalidArgument("sequence length must be at least 1, got " + std::to_string(shape.seq_len));
  }
  if (shape.head_chunk < kHeadChunkAuto) {
    return Status::InvalidArgument("the LM-head chunk must be positive, 0 or auto, got " +
                                   std::to_string(shape.head_chunk));
  }
  NS_RETURN_IF_ERROR(validate_lora_settings(shape));
  RunPlan plan;
  plan.max_threads = shape.max_threads > 0 ? shape.max_threads : default_max_threads();
  const int64_t B = shape.batch, T = shape.seq_len, D = c.d_model, E = c.embed_dim(), V = c.vocab_size;
  const bool train = shape.training;
  // Gradient checkpointing and inference keep only block inputs; sub-layer internals live in one
  // region per distinct block spec, rewritten by every block of that spec.
  const bool shared_internals = shape.grad_checkpoint || !train;
  LayerShape ls{shape.batch, shape.seq_len, plan.max_threads, train};

  SpecList weights, acts, scratch;
  // lora/qlora: every weight of the base is frozen; only the adapters (lora_plan.h) train.
  const auto W = shape.mode == TrainMode::kFull ? TensorRole::kWeight : TensorRole::kFrozenWeight;
  const auto A = TensorRole::kActivation, S = TensorRole::kScratch;
  std::set<std::string> lora_matched;

  weights.add("embed.weight", {V, E}, W, TensorInit::kNormal, true);
  if (c.has_bridge()) weights.add("bridge_in.weight", {D, E}, W, TensorInit::kNormal, true);

  acts.add("act.tokens", {B, T}, A, TensorInit::kNone, false, DType::kI32);
  acts.add("act.targets", {B, T}, A, TensorInit::kNone, false, DType::kI32);
  // Packed rows (Model::forward with positions): each token's document start and RoPE position.
  acts.add("act.doc_start", {B, T}, A, TensorInit::kNone, false, DType::kI32);
  acts.add("act.rope_pos", {B, T}, A, TensorInit::kNone, false, DType::kI32);
  if (c.has_bridge()) acts.add("act.embed", {B, T, E}, A);

  std::set<LayerKind> kinds_with_scratch;
  int s_index = 0;  // sub-layer index over the whole model
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const BlockSpec& spec = c.blocks[i];
    const std::string spec_name = block_spec_to_string(spec);
    plan.block_begin.push_back(static_cast<int>(plan.sublayers.size()));
    const std::string bi = std::to_string(i);
    if (shared_internals) acts.add("act.block_in." + bi, {B, T, D}, A);
    for (size_t j = 0; j < spec.layers.size(); ++j, ++s_index) {
      const LayerKind kind = spec.layers[j];
      const std::string ks = kind_str(kind);
      SubLayerPlan sp;
      sp.block = static_cast<int>(i);
      sp.kind = kind;
      sp.first_in_block = j == 0;
      sp.last_in_block = j + 1 == spec.layers.size();
      NS_ASSIGN_OR_RETURN(sp.layer, make_layer(kind, c, ls));

      const std::string wprefix = "blocks." + bi + "." + ks + ".";
      const std::string act_base = shared_internals ? "act.recompute." + spec_name + "." : "act.blocks." + bi + ".";
      const bool list_acts = !shared_internals || !acts.has(act_base + ks + "_norm.rstd");

      sp.norm_weight = "blocks." + bi + "." + ks + "_norm.weight";
      weights.add(sp.norm_weight, {D}, W, TensorInit::kOnes, false);
      sp.norm_rstd = act_base + ks + "_norm.rstd";
      sp.norm_out = act_base + ks + "_norm.out";
      if (list_acts) {
        acts.add(sp.norm_rstd, {B, T}, A);
        acts.add(sp.norm_out, {B, T, D}, A);
      }
      // Residual stream names.
      if (shared_internals) {
        sp.res_in = sp.first_in_block ? "act.block_in." + bi : act_base + "res." + std::to_string(j);
        sp.res_out = sp.last_in_block ? "act.block_in." + std::to_string(i + 1) : act_base + "res." + std::to_string(j + 1);
        if (!sp.last_in_block && list_acts) acts.add(sp.res_out, {B, T, D}, A);
      } else {
        sp.res_in = "act.res." + std::to_string(s_index);
        sp.res_out = "act.res." + std::to_string(s_index + 1);
        if (s_index == 0) acts.add(sp.res_in, {B, T, D}, A);
        acts.add(sp.res_out, {B, T, D}, A);
      }

      std::vector<TensorSpec> local;
      sp.layer->list_tensors(&local);
      NS_RETURN_IF_ERROR(lora_adapt_layer_tensors(shape, &local, wprefix, &lora_matched));
      for (TensorSpec& t : local) {
        const std::string local_name = t.name;
        if (t.role == TensorRole::kWeight || t.role == TensorRole::kFrozenWeight) {
          t.name = wprefix + local_name;
          if (train && t.role == TensorRole::kWeight) sp.grads.emplace_back(local_name, "grad." + t.name);
          sp.names.emplace_back(local_name, t.name);
          weights.add(std::move(t));
        } else if (t.role == TensorRole::kActivation) {
          t.name = act_base + ks + "." + local_name;
          sp.names.emplace_back(local_name, t.name);
          if (list_acts) acts.add(std::move(t));
        } else if (t.role == TensorRole::kScratch) {
          t.name = "scratch." + ks + "." + local_name;
          sp.names.emplace_back(local_name, t.name);
          if (!kinds_with_scratch.count(kind)) scratch.add(std::move(t));
        } else {
          CHECK_MSG(false, ("a layer may list only weights, activations and scratch: " + local_name).c_str());
        }
      }
      kinds_with_scratch.insert(kind);
      plan.sublayers.push_back(std::move(sp));
    }
  }
  plan.block_begin.push_back(static_cast<int>(plan.sublayers.size()));
  NS_RETURN_IF_ERROR(lora_check_targets_matched(shape, lora_matched, c.name));
  if (shared_internals) acts.add("act.block_in." + std::to_string(c.blocks.size()), {B, T, D}, A);

  weights.add("final_norm.weight", {D}, W, TensorInit::kOnes, false);
  if (c.has_bridge()) weights.add("bridge_out.weight", {E, D}, W, TensorInit::kNormal, true);
  if (!c.tied_embedding) weights.add("lm_head.weight", {V, E}, W, TensorInit::kNormal, true);

  acts.add("act.final_norm.rstd", {B, T}, A);
  acts.add("act.final_norm.out", {B, T, D}, A);
  if (c.has_bridge()) acts.add("act.bridge_out", {B, T, E}, A);
  if (const int64_t C = head_chunk_rows(shape, c.vocab_size); C > 0) {
    acts.add("act.logits", {C, V}, A);
    acts.add("act.lse", {C}, A);
    acts.add("act.head.rows", {C, E}, A);
    acts.add("act.head.index", {C}, A, TensorInit::kNone, false, DType::kI32);
    acts.add("act.head.targets", {C}, A, TensorInit::kNone, false, DType::kI32);
    if (train) scratch.add("scratch.head.drows", {C, E}, S);
  } else {
    acts.add("act.logits", {B, T, V}, A);
    acts.add("act.lse", {B, T}, A);
  }

  if (train) {
    scratch.add("scratch.dres", {B, T, D}, S);
    scratch.add("scratch.dxn", {B, T, D}, S);
    if (c.has_bridge()) scratch.add("scratch.dhead", {B, T, E}, S);
  }

  // Assemble: weights, gradients, moments m, moments v, activations, scratch.
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
  plan.specs = all.take();
  return plan;
}

Result<std::vector<TensorSpec>> list_run_tensors(const ModelConfig& config, const RunShape& shape) {
  NS_ASSIGN_OR_RETURN(RunPlan plan, make_run_plan(config, shape));
  return std::move(plan.specs);
}

Result<int64_t> count_parameters(const ModelConfig& config) {
  RunShape shape;
  shape.training = false;
  shape.batch = 1;
  shape.seq_len = 1;
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, list_run_tensors(config, shape));
  int64_t n = 0;
  for (const TensorSpec& s : specs) {
    if (s.role == TensorRole::kWeight || s.role == TensorRole::kFrozenWeight) n += s.numel();
  }
  return n;
}

}  // namespace trainer
