// hf_layout_of: the Hugging Face architecture and weight names of a model (hf_layout.h).
#include "trainer/arch/hf_layout.h"

#include <set>

#include "trainer/layout.h"

namespace trainer {

namespace {

const Architecture* by_name(const char* name) {
  for (const Architecture* a : architectures())
    if (std::string(a->name) == name) return a;
  return nullptr;
}

// Why a nightshift model is not a plain llama or mamba ("" when it is one of them).
std::string preset_refusal(const ModelConfig& c, bool* ssm) {
  bool all_attn = !c.blocks.empty(), all_ssm = !c.blocks.empty();
  for (const BlockSpec& b : c.blocks) {
    all_attn = all_attn && b.layers == std::vector<LayerKind>{LayerKind::kAttn, LayerKind::kMlp};
    all_ssm = all_ssm && b.layers == std::vector<LayerKind>{LayerKind::kSsm};
  }
  *ssm = all_ssm;
  if (!all_attn && !all_ssm)
    return "its blocks mix kinds or use moe (only attn+mlp blocks, as llama, or ssm blocks, as mamba, have a Hugging "
           "Face "
           "architecture)";
  if (c.has_bridge()) return "it has bridge projections (d_embed != d_model)";
  if (all_attn && c.attn.qkv_bias) return "it has q/k/v biases";
  if (all_attn && c.attn.qk_norm) return "it has q/k norms";
  if (all_attn && c.attn.window > 0) return "it has a sliding window";
  return "";
}

}  // namespace

HfLayout hf_layout_of(const ModelConfig& config, const Architecture* arch, const std::string& model_type) {
  HfLayout out;
  const std::string who = "model '" + config.name + "'";
  if (arch != nullptr) {
    out.imported = true;
    out.model_type = model_type;
    if (out.model_type.empty()) {
      out.model_type = arch->hf_model_types.empty() ? arch->name : arch->hf_model_types.front();
      if (out.model_type == "llama" && config.attn.window > 0) out.model_type = "mistral";
    }
  } else {
    bool ssm = false;
    const std::string why = preset_refusal(config, &ssm);
    if (!why.empty()) {
      out.why_not = who + " has no Hugging Face architecture: " + why;
      return out;
    }
    arch = by_name(ssm ? "mamba" : "llama");
    out.model_type = ssm ? "mamba" : "llama";
    if (arch == nullptr) {
      out.why_not = who + ": the " + out.model_type + " architecture is not built in";
      return out;
    }
  }
  // Every weight of the model must have exactly one HF name, and nothing more.
  RunShape probe;
  probe.batch = 1;
  probe.seq_len = 1;
  probe.training = false;
  auto specs = list_run_tensors(config, probe);
  if (!specs.ok()) {
    out.why_not = specs.status().message();
    return out;
  }
  std::set<std::string> weights;
  for (const TensorSpec& s : *specs)
    if (s.role == TensorRole::kWeight) weights.insert(s.name);
  for (const TensorMapping& m : arch->hf_tensors(config)) {
    if (m.slices > 0) out.fused[m.ours] = m;
    if (!weights.count(m.ours) || m.theirs.empty()) {
      out.why_not = who + ": the " + out.model_type + " layout names " + m.ours + ", which the model does not have";
      return out;
    }
    out.hf_names[m.ours] = m.theirs.front();
  }
  for (const std::string& w : weights) {
    if (!out.hf_names.count(w)) {
      out.hf_names.clear();
      out.why_not = who + ": weight " + w + " has no name in the " + out.model_type + " layout";
      return out;
    }
  }
  out.arch = arch;
  return out;
}

std::string hf_module_of(const std::string& hf_weight_name) {
  constexpr std::string_view kSuffix = ".weight";
  if (hf_weight_name.ends_with(kSuffix)) return hf_weight_name.substr(0, hf_weight_name.size() - kSuffix.size());
  return hf_weight_name;
}

std::string hf_leaf_of(const std::string& hf_module) {
  const size_t dot = hf_module.rfind('.');
  return dot == std::string::npos ? hf_module : hf_module.substr(dot + 1);
}

}  // namespace trainer
