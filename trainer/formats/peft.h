// LoRA adapters in the PEFT layout (huggingface/peft, LoraConfig + save_pretrained):
//   DIR/adapter_model.safetensors  "base_model.model.<module>.lora_A.weight" (r, In) and
//                                  "base_model.model.<module>.lora_B.weight" (Out, r), F32, where
//                                  <module> is the base weight's name without ".weight"
//                                  ("blocks.0.attn.q"); metadata {"format": "pt"} plus nightshift's
//                                  base_id and model_toml, to refuse a mismatched base
//   DIR/adapter_config.json        peft_type "LORA", r, lora_alpha (= scale · r, so PEFT's
//                                  lora_alpha / r is our scale), target_modules (our target keys,
//                                  which PEFT matches as module-name suffixes), and PEFT's defaults.
// Reading checks every name, shape and the base; nothing here touches the base weights.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
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
// their current rank (creating DIR). Each file is written atomically; IOError naming the path.
common::Status export_peft_adapter(const std::string& dir, const Model& model, const std::string& base_model,
                                   const std::string& base_id, const std::string& model_toml);

// Reads a PEFT adapter directory. NotFound / Corruption / InvalidArgument naming the file and the
// problem: not LORA, rank or alpha missing, a lora_A without its lora_B, shapes that disagree with r.
common::Result<PeftAdapter> read_peft_adapter(const std::string& dir);

// Copies an adapter into a lora/qlora model built with the adapter's rank, scale and targets:
// every adapted matrix of the model must be in the adapter with matching shapes, and the adapter
// must hold nothing else. InvalidArgument naming the module otherwise (nothing is half-loaded into
// a model that is used afterwards: the caller discards the model on error).
common::Status load_peft_adapter(const PeftAdapter& adapter, Model& model, const std::string& dir);

}  // namespace trainer
