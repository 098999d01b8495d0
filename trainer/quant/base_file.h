// Frozen bases for lora/qlora (and starting weights for full fine-tunes): base files (written by
// `nightshift quantize`), full-model checkpoints, and pretrained models of other tools (a GGUF file
// or a Hugging Face directory, trainer/arch/imported_model.h), behind one BaseSource. A base file is a safetensors file holding every weight of a
// model exactly as a lora/qlora run stores it (linear weights in the base format: nf4/q8 as one U8
// blob per matrix in trainer/quant/format.h's layout, f16/bf16 as 2-byte tensors, f32 as is; all
// other weights fp32), with metadata: format "nightshift-base", version, base_format, double_quant,
// model_toml, tokenizer, base_id (checksum of the source checkpoint's weights) and source.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arch/imported_model.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model.h"
#include "trainer/model_config.h"
#include "trainer/quant/frozen_base.h"
#include "trainer/quant/format.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

struct BaseInfo {
  QuantFormat format = QuantFormat::kF32;  // f32 for a checkpoint
  bool double_quant = false;
  ModelConfig config;
  std::string model_toml;
  std::string tokenizer;  // the source's tokenizer spec ("byte", "gpt2:DIR", "gguf:FILE", "hf:DIR")
  std::string base_id;    // FNV-1a 64 (hex) of the source checkpoint's model.safetensors; for an
                          // imported model, its identity (ImportedModel::identity)
  std::string source;     // where the weights came from
};

// The lora/qlora RunShape fields a base implies (mode lora for f32/f16/bf16, qlora for nf4/q8).
TrainMode mode_for_base_format(QuantFormat format);

class BaseSource {
 public:
  // `path` is a base file, a run directory (its latest checkpoint), a checkpoint directory, a GGUF
  // file or a Hugging Face model directory.
  // NotFound / Corruption naming the file; InvalidArgument when it is neither kind, or when the
  // checkpoint is itself a lora/qlora run (its weights are not a plain model).
  static common::Result<std::unique_ptr<BaseSource>> open(const std::string& path);
  ~BaseSource();
  BaseSource(const BaseSource&) = delete;
  BaseSource& operator=(const BaseSource&) = delete;

  const BaseInfo& info() const { return info_; }
  bool is_checkpoint() const { return checkpoint_ != nullptr; }
  // The pretrained model behind an imported base (null for base files and checkpoints).
  const ImportedModel* imported() const { return imported_.get(); }
  // Its weights are fp32 or decodable, so any base format works (a base file holds one format).
  bool converts_on_load() const { return checkpoint_ != nullptr || imported_ != nullptr; }

  // Fills the frozen base of a lora/qlora model built for this base's config. From a checkpoint or an
  // imported model any base format works (quantized on the way in); a base file only loads into its
  // own format (InvalidArgument naming both formats otherwise). Errors name the file and the tensor.
  common::Status fill(Model& model) const;
  // Points the linear weights of a model whose base stays mapped (LoraSettings::mapped_base) at the
  // file's data in its own encoding (after building the model, and again after loading a checkpoint,
  // which holds no mapped weights). Imported models only.
  common::Status map_into(Model& model) const;
  // map_into encodes an imported base into the ggml type `type_name` ("q4_K") instead of reading
  // the file's own encoding; a matrix whose rows are not a whole number of that type's blocks is
  // encoded as q8_0. InvalidArgument for an unknown type or a base that is not imported.
  common::Status encode_on_load(const std::string& type_name);
  // Bytes of the linear weights map_into hands a model of this config and shape: the file's own
  // encoding, or encode_on_load's. What LoraSettings::mapped_bytes records for the planner.
  common::Result<uint64_t> mapped_bytes(const ModelConfig& config) const;
  // Sets every trainable weight of a full-mode model (the start of a full fine-tune).
  common::Status fill_full(Model& model) const;

  // fp32 weights by name: mapped directly, or (base files) the linear weights dequantized into a
  // buffer that the next call reuses.
  WeightLookup f32_lookup() const;

  // After fill(): the base's file pages stop counting in this process's resident memory (the frozen
  // base now lives in the model; a later fill() reads the file again).
  void release_resident_pages() const;

 private:
  BaseSource() = default;
  BaseInfo info_;
  std::unique_ptr<SafetensorsFile> file_;        // base file or the checkpoint's model.safetensors
  std::unique_ptr<CheckpointInfo> checkpoint_;   // set for checkpoints
  std::unique_ptr<ImportedModel> imported_;      // set for GGUF files and HF directories
  mutable std::vector<float> buffer_;            // dequantization buffer of f32_lookup
  const quant::TypeTraits* encoding_ = nullptr;  // encode_on_load's type
  mutable std::deque<std::vector<uint8_t>> encoded_;  // the encoded matrices map_into hands out
};

// Writes a base file at `path` (atomically: nothing is left at `path` on failure) with every
// weight of info.config from `weights`, linear weights converted to info.format.
common::Status write_base_file(const std::string& path, const BaseInfo& info, const WeightLookup& weights);

}  // namespace trainer
