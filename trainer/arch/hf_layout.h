// HfLayout: how a nightshift model is written for Hugging Face (transformers, PEFT) — the
// architecture that expresses it exactly and every weight's HF name (the architecture's
// hf_tensors, read the other way). An imported model (whose architecture the caller knows from
// its base: ImportedModel::architecture) keeps its own architecture; nightshift's own presets and
// model files are written as `llama`
// when every block is attn+mlp without q/k/v biases, q/k norms, sliding window or bridges, as
// `mamba` when every block is ssm without bridges, and are not expressible otherwise (why_not says
// why). HF checkpoints keep rotate-half q/k rows, as nightshift does, so no tensor is transformed.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/model_config.h"

namespace trainer {

struct HfLayout {
  const Architecture* arch = nullptr;  // null: no HF architecture expresses the model (see why_not)
  std::string model_type;              // config.json model_type: "llama", "mistral", "qwen2", "qwen3", "mamba"
  bool imported = false;               // the config came from this architecture (not a nightshift preset)
  std::map<std::string, std::string>
      hf_names;         // every weight: "blocks.0.attn.q.weight" -> "model.layers.0.self_attn.q_proj.weight"
  // Weights that are a row block of a fused HF tensor (Granite's input_linear holds gate and up;
  // block_sparse_moe.input_linear every expert's): their mapping, with slice, slices and whole.
  std::map<std::string, TensorMapping> fused;
  std::string why_not;  // set when arch is null
};

// `arch`: the architecture the model was imported with (null for nightshift's own models);
// `model_type`: its config.json model_type ("" = the architecture's first, or "mistral" for a
// llama with a sliding window).
HfLayout hf_layout_of(const ModelConfig& config, const Architecture* arch = nullptr,
                      const std::string& model_type = "");

// The HF module path of a weight name ("model.layers.0.self_attn.q_proj.weight" -> "model.layers.0.self_attn.q_proj")
// and its last component ("q_proj"), PEFT's target module name.
std::string hf_module_of(const std::string& hf_weight_name);
std::string hf_leaf_of(const std::string& hf_module);

}  // namespace trainer
