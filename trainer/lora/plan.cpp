// lora/qlora tensor-list rewriting and the target vocabulary (see plan.h).
#include "trainer/lora/plan.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/check.h"
#include "trainer/layers/kind.h"
#include "trainer/lora/adapter.h"
#include "trainer/formats/safetensors.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer {

using common::Status;

namespace {

// The arena dtype of a float base type kept element by element (f16, bf16): the safetensors dtype of
// the same name.
DType float_dtype(const quant::TypeTraits& t) {
  std::string upper = t.name;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::optional<DType> d = dtype_from_name(upper);
  CHECK_MSG(d.has_value() && dtype_size(*d) == t.block_bytes && t.block_elems == 1, "not a float weight type");
  return *d;
}

std::string stem_of(const std::string& local_weight_name) {
  const std::string suffix = ".weight";
  if (local_weight_name.size() > suffix.size() && local_weight_name.ends_with(suffix))
    return local_weight_name.substr(0, local_weight_name.size() - suffix.size());
  return local_weight_name;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const std::vector<std::string>& effective_targets(const RunShape& shape) {
  return shape.lora.targets.empty() ? default_lora_targets() : shape.lora.targets;
}

TensorSpec make_spec(std::string name, std::vector<int64_t> shape, TensorRole role) {
  TensorSpec t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.role = role;
  return t;
}

}  // namespace

namespace {
// The union of the kinds' targets (trainer/layers/<kind>_kind.cpp), in registry order, each once.
std::vector<std::string> union_of_kinds(bool defaults_only) {
  std::vector<std::string> out;
  for (const LayerKindInfo& kind : layer_kinds()) {
    for (const char* t : defaults_only ? kind.default_lora_targets : kind.lora_targets) {
      if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
    }
  }
  return out;
}
}  // namespace

const std::vector<std::string>& known_lora_targets() {
  static const std::vector<std::string> k = union_of_kinds(false);
  return k;
}

const std::vector<std::string>& default_lora_targets() {
  static const std::vector<std::string> k = union_of_kinds(true);
  return k;
}

std::string lora_target_key(const std::string& local_weight_name) {
  const std::string stem = stem_of(local_weight_name);
  const size_t dot = stem.rfind('.');
  return dot == std::string::npos ? stem : stem.substr(dot + 1);
}

common::Result<std::vector<std::string>> parse_lora_targets(const std::string& csv) {
  if (csv == "default" || csv.empty()) return default_lora_targets();
  if (csv == "all") return known_lora_targets();
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= csv.size()) {
    size_t comma = csv.find(',', pos);
    if (comma == std::string::npos) comma = csv.size();
    std::string name = csv.substr(pos, comma - pos);
    name.erase(0, name.find_first_not_of(" \t"));
    name.erase(name.find_last_not_of(" \t") + 1);
    if (name.empty()) return Status::InvalidArgument("empty LoRA target in '" + csv + "'");
    // The names of Hugging Face's Llama/Qwen modules (PEFT's target_modules) stand for ours, and
    // LFM2's feed-forward names (w1 gate, w3 up, w2 down), and Granite's shared MLP (input_linear:
    // gate and up, fused there; output_linear: down).
    static constexpr std::pair<const char*, const char*> kHfNames[] = {
        {"q_proj", "q"},   {"k_proj", "k"},       {"v_proj", "v"}, {"o_proj", "o"}, {"gate_proj", "gate"},
        {"up_proj", "up"}, {"down_proj", "down"}, {"w1", "gate"},  {"w3", "up"},    {"w2", "down"},
        {"output_linear", "down"}};
    for (const auto& [hf, ours] : kHfNames) {
      if (name == hf) name = ours;
    }
    if (name == "input_linear") {
      for (const char* part : {"gate", "up"})
        if (std::find(out.begin(), out.end(), part) == out.end()) out.push_back(part);
      pos = comma + 1;
      continue;
    }
    if (std::find(known_lora_targets().begin(), known_lora_targets().end(), name) == known_lora_targets().end())
      return Status::InvalidArgument("unknown LoRA target '" + name + "' (known: " + join(known_lora_targets()) +
                                     ", q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj, w1, w2, w3, "
                                     "input_linear, output_linear; "
                                     "or 'all', 'default')");
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    pos = comma + 1;
  }
  return out;
}

std::string lora_a_name(const std::string& w) { return stem_of(w) + ".lora_A.weight"; }
std::string lora_bt_name(const std::string& w) { return stem_of(w) + ".lora_Bt.weight"; }
std::string lora_u_name(const std::string& w) { return stem_of(w) + ".lora_u"; }

int lora_rank_capacity(const RunShape& shape) {
  return shape.lora.rank_max > 0 ? shape.lora.rank_max : shape.lora_rank;
}

int lora_scratch_slots(const RunShape& shape) {
  return shape.max_threads > 0 ? shape.max_threads : default_max_threads();
}

float lora_scale(const RunShape& shape) {
  if (shape.lora_rank <= 0 || shape.lora.alpha <= 0.0) return 1.0f;
  return static_cast<float>(shape.lora.alpha / shape.lora_rank);
}

bool is_lora_target(const RunShape& shape, const std::string& local_weight_name) {
  if (shape.mode == TrainMode::kFull) return false;
  const auto& t = effective_targets(shape);
  return std::find(t.begin(), t.end(), lora_target_key(local_weight_name)) != t.end();
}

Status validate_lora_settings(const RunShape& shape) {
  if (shape.mode == TrainMode::kFull) return Status::Ok();
  const std::string mode = train_mode_name(shape.mode);
  if (shape.lora_rank < 1) return Status::InvalidArgument("LoRA rank must be at least 1, got " + std::to_string(shape.lora_rank));
  if (lora_rank_capacity(shape) < shape.lora_rank)
    return Status::InvalidArgument("LoRA rank ceiling " + std::to_string(shape.lora.rank_max) +
                                   " is below the rank " + std::to_string(shape.lora_rank));
  if (shape.lora.alpha < 0.0) return Status::InvalidArgument("LoRA alpha must be positive");
  for (const std::string& t : shape.lora.targets)
    if (std::find(known_lora_targets().begin(), known_lora_targets().end(), t) == known_lora_targets().end())
      return Status::InvalidArgument("unknown LoRA target '" + t + "' (known: " + join(known_lora_targets()) + ")");
  const QuantFormat f = shape.lora.base_format;
  if (shape.lora.mapped_base) return Status::Ok();  // the base keeps its file's encoding
  if (shape.mode == TrainMode::kLora && is_block_quantized(f))
    return Status::InvalidArgument(std::string("mode lora needs a float base (f32, f16, bf16), not ") +
                                   quant_format_name(f) + "; use --mode qlora for a quantized base");
  if (shape.mode == TrainMode::kQlora && !is_block_quantized(f))
    return Status::InvalidArgument(std::string("mode qlora needs a quantized base (nf4, q8), not ") +
                                   quant_format_name(f) + "; make one with nightshift quantize --format nf4");
  if (shape.lora.double_quant && !quant_format_type(f).double_quant)
    return Status::InvalidArgument("double quantization applies to nf4 only");
  return Status::Ok();
}

Status lora_adapt_layer_tensors(const RunShape& shape, std::vector<TensorSpec>* local, const std::string& where,
                                std::set<std::string>* matched) {
  if (shape.mode == TrainMode::kFull) return Status::Ok();
  const int64_t rows = int64_t{shape.batch} * shape.seq_len;
  const int64_t cap = lora_rank_capacity(shape);
  const QuantFormat format = shape.lora.base_format;
  const quant::TypeTraits& type = quant_format_type(format);
  std::vector<TensorSpec> added;
  int64_t panel_floats = 0;
  bool any_adapter = false;
  for (TensorSpec& t : *local) {
    if (t.role != TensorRole::kWeight && t.role != TensorRole::kFrozenWeight) continue;
    t.role = TensorRole::kFrozenWeight;
    t.decay = false;
    if (!t.linear) continue;
    if (t.shape.size() != 2) return Status::Internal(where + t.name + " is marked linear but is not 2-D");
    const int64_t out = t.shape[0], in = t.shape[1];
    const QuantLayout layout{format, out, in, shape.lora.double_quant};
    if (shape.lora.mapped_base) {
      t.dtype = DType::kU8;  // in the base's file, not in the arena
      t.shape = {0};
      panel_floats = std::max<int64_t>(panel_floats, quant::kWeightPanelFloats);
    } else if (type.packing == quant::Packing::kSections) {  // codes and scales: bytes
      t.dtype = DType::kU8;
      t.shape = {static_cast<int64_t>(layout.total_bytes())};
    } else if (!type.plain_f32) {  // a float type (f16, bf16): the safetensors dtype of its name
      t.dtype = float_dtype(type);
    }
    t.init = TensorInit::kNone;  // the base comes from a checkpoint or a quantized file
    if (!shape.lora.mapped_base)
      panel_floats = std::max<int64_t>(
          panel_floats, static_cast<int64_t>(quant::weight_matmul_scratch_floats(weight_matrix(QuantView{layout, nullptr}))));
    if (!is_lora_target(shape, t.name)) continue;
    NS_RETURN_IF_ERROR(validate_lora_rank(static_cast<int>(cap), in, out, where + stem_of(t.name)));
    matched->insert(lora_target_key(t.name));
    any_adapter = true;
    TensorSpec a = make_spec(lora_a_name(t.name), {cap, in}, TensorRole::kWeight);
    TensorSpec bt = make_spec(lora_bt_name(t.name), {cap, out}, TensorRole::kWeight);
    a.init = TensorInit::kZeros;  // LoraRegistry::init_adapters draws A (Kaiming-uniform); B stays 0
    bt.init = TensorInit::kZeros;
    added.push_back(std::move(a));
    added.push_back(std::move(bt));
    added.push_back(make_spec(lora_u_name(t.name), {rows, cap}, TensorRole::kActivation));
  }
  const int64_t slots = lora_scratch_slots(shape);
  if (any_adapter && shape.training)
    added.push_back(make_spec(kLoraGradScratch, {slots, rows, cap}, TensorRole::kScratch));
  if (panel_floats > 0) added.push_back(make_spec(kQmatmulPanelScratch, {slots, panel_floats}, TensorRole::kScratch));
  for (TensorSpec& t : added) local->push_back(std::move(t));
  return Status::Ok();
}

Status lora_check_targets_matched(const RunShape& shape, const std::set<std::string>& matched,
                                  const std::string& model_name) {
  if (shape.mode == TrainMode::kFull) return Status::Ok();
  if (shape.lora.targets.empty()) {
    if (matched.empty())
      return Status::InvalidArgument("model '" + model_name + "' has no linear map the LoRA targets can adapt");
    return Status::Ok();
  }
  for (const std::string& t : shape.lora.targets)
    if (!matched.count(t))
      return Status::InvalidArgument("LoRA target '" + t + "' matches no linear map of model '" + model_name + "'");
  return Status::Ok();
}

}  // namespace trainer
