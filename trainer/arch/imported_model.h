// ImportedModel: a pretrained model of another tool opened for nightshift — a GGUF file (llama.cpp,
// ollama, LM Studio) or a Hugging Face model directory (config.json + safetensors, sharded or not).
// Its architecture (trainer/arch/architecture.h) turns the file's description into a ModelConfig
// and its tensor names into nightshift's; the weights are read on demand, decoded to fp32 (any
// GGUF type of trainer/quant/ggml_types.h, F16/BF16 safetensors) and transformed into nightshift's
// layout — or, for a frozen lora/qlora base, handed out in the file's own encoding (typed()).
// The files stay memory-mapped read-only for the object's life.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arch/architecture.h"
#include "trainer/formats/gguf.h"
#include "trainer/formats/hf_checkpoint.h"
#include "trainer/model_config.h"
#include "trainer/quant/frozen_base.h"
#include "trainer/quant/table_matmul.h"

namespace trainer {

class ImportedModel {
 public:
  // True when `path` names what open() reads: a file ending in .gguf, or a directory holding a
  // config.json (a run directory or a nightshift checkpoint is not one).
  static bool is_importable(const std::string& path);
  // Opens the file or directory, finds its architecture and reads its config. Errors name the file:
  // NotFound, Corruption (damaged GGUF, index or shard), InvalidArgument (an unsupported
  // architecture, listing the supported ones; a missing key; a tensor whose shape disagrees with
  // the config; a weight the model needs that the file lacks).
  static common::Result<std::unique_ptr<ImportedModel>> open(const std::string& path);

  // What a Hugging Face config.json alone says (people plan before they download the weights): the
  // architecture, the ModelConfig and the tokenizer spec of a tokenizer.json or tokenizer.model
  // beside it ("" when none). Errors as open() for the config.
  struct ConfigOnly {
    const Architecture* architecture = nullptr;
    ModelConfig config;
    std::string tokenizer_spec;
  };
  static common::Result<ConfigOnly> read_hf_config(const std::string& config_json);

  const std::string& path() const { return path_; }
  const char* format() const { return gguf_ ? "gguf" : "hf"; }
  const Architecture& architecture() const { return *arch_; }
  const ModelConfig& config() const { return config_; }
  // The model's own tokenizer as a spec of trainer/tokenizers/model_tokenizer.h ("gguf:FILE",
  // "hf:DIR", "spm:FILE"), or "" when the file carries none.
  const std::string& tokenizer_spec() const { return tokenizer_; }
  // A checksum (CRC-32, hex) of what identifies the weights: the GGUF header with its metadata and
  // tensor table, or config.json with the safetensors headers; adapters record it as their base.
  const std::string& identity() const { return identity_; }
  // Parameters as counted from the file's tensors that the model uses.
  int64_t parameter_count() const;

  // fp32 weights by nightshift name, decoded and transformed; the pointer stays valid until the
  // next call (one reused buffer).
  WeightLookup f32_lookup() const;
  // The same, written straight into the caller's memory (only a transformed tensor, such as
  // llama's permuted q/k, passes through a buffer of its own).
  WeightReader f32_reader() const;

  // A linear weight (Out, In) in the file's own encoding, for a frozen base that stays mapped: the
  // GGUF tensor's bytes with its type (and, for llama's q/k, the row order that undoes llama.cpp's
  // permutation); F16/BF16 safetensors as the ggml f16/bf16 types. InvalidArgument when the tensor
  // cannot be used in place (an F32 tensor of an HF checkpoint stored in another dtype, a transform
  // other than a row order).
  common::Result<quant::TypedMatrix> typed(const std::string& name, int64_t out, int64_t in) const;
  // Bytes of every linear weight of `config` in the file's own encoding, or encoded as `encoding`
  // (quant::encoding_for_cols): what a lora/qlora run whose base stays mapped
  // (LoraSettings::mapped_base) reads every step.
  common::Result<uint64_t> mapped_linear_bytes(const ModelConfig& config,
                                               const quant::TypeTraits* encoding = nullptr) const;

  // Every tensor of the file as stored: its own name, type, row-major shape and bytes (for inspect).
  struct StoredTensor {
    std::string name, type;
    std::vector<int64_t> shape;
    uint64_t bytes = 0;
  };
  std::vector<StoredTensor> stored_tensors() const;

  // Drops the resident pages of the mapped files (after the weights were copied out).
  void release_resident_pages() const;

 private:
  ImportedModel() = default;
  common::Status check_tensors() const;
  const TensorMapping* mapping(const std::string& ours) const;

  std::string path_;
  const Architecture* arch_ = nullptr;
  ModelConfig config_;
  std::string tokenizer_;
  std::string identity_;
  std::unique_ptr<formats::GgufFile> gguf_;
  std::unique_ptr<HfCheckpoint> hf_;
  std::vector<TensorMapping> tensors_;
  std::vector<std::vector<int32_t>> row_orders_;  // kRopePermute row maps, one per mapped tensor index
  mutable std::vector<float> buffer_, staging_;
};

}  // namespace trainer
