// LoRA adapters in the PEFT layout (huggingface/peft, LoraConfig + save_pretrained):
//   DIR/adapter_model.safetensors  "base_model.model.<module>.lora_A.weight" (r, In) and
//                                  "base_model.model.<module>.lora_B.weight" (Out, r), F32, where
//                                  <module> is the Hugging Face module path of the base weight
//                                  ("model.layers.0.self_attn.q_proj") when the model has an HF
//                                  architecture (trainer/arch/hf_layout.h), else nightshift's weight
//                                  name without ".weight" ("blocks.0.attn.q"); metadata
//                                  {"format": "pt"} plus nightshift's base_id and model_toml, to
//                                  refuse a mismatched base
//   DIR/adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha (= scale · r,
//                                  so PEFT's lora_alpha / r is our scale), target_modules (the HF
//                                  module names "q_proj", ..., or our target keys "q", ..., which PEFT
//                                  matches as module-name suffixes), base_model_name_or_path, and
//                                  PEFT's defaults; a nightshift-named adapter says so
//                                  ("nightshift_layout").
// Reading accepts both namings (HF names are mapped back through the base's architecture) and
// checks every name, shape and the base; nothing here touches the base weights.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/lora/registry.h"
#include "trainer/model.h"

namespace trainer {

struct PeftFactors {
  std::vector<float> a;  // (r, In)
  std::vector<float> b;  // (Out, r)
  int64_t in = 0, out = 0;
};

struct PeftAdapter {
  int rank = 0;
  double lora_alpha = 0.0;
  std::vector<std::string> target_modules;
  std::string base_model;  // base_model_name_or_path
  std::string base_id;     // nightshift metadata: the base's identity ("" when absent)
  std::string model_toml;  // nightshift metadata: the base model ("" when absent)
  std::map<std::string, PeftFactors> modules;  // by module name ("blocks.0.attn.q")
  float scale() const { return static_cast<float>(lora_alpha / rank); }
};

// Writes DIR/adapter_model.safetensors and DIR/adapter_config.json from the model's adapters at
// their current rank (creating DIR), in HF names when `hf` is the layout of an imported model of an
// HF architecture (hf->imported), else in nightshift's. Each file is written atomically; IOError naming the path.
common::Status export_peft_adapter(const std::string& dir, const Model& model, const std::string& base_model,
                                   const std::string& base_id, const std::string& model_toml,
                                   const HfLayout* hf = nullptr);

// Reads a PEFT adapter directory. NotFound / Corruption / InvalidArgument naming the file and the
// problem: not LORA, rank or alpha missing, a lora_A without its lora_B, shapes that disagree with r.
// With `base`, modules named by Hugging Face module paths are renamed to nightshift's through the
// base's HF layout (hf_layout_of(*base, arch); InvalidArgument naming a module that layout does not
// have); without it the names are kept as stored.
common::Result<PeftAdapter> read_peft_adapter(const std::string& dir, const ModelConfig* base = nullptr,
                                              const Architecture* arch = nullptr);

// Copies an adapter into a lora/qlora model built with the adapter's rank, scale and targets:
// every adapted matrix of the model must be in the adapter with matching shapes, and the adapter
// must hold nothing else. InvalidArgument naming the module otherwise (nothing is half-loaded into
// a model that is used afterwards: the caller discards the model on error).
common::Status load_peft_adapter(const PeftAdapter& adapter, Model& model, const std::string& dir);

}  // namespace trainer
