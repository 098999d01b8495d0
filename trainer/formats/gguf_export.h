// Writing nightshift models and LoRA adapters as GGUF files that llama.cpp (and ollama, LM Studio)
// load: the llama.cpp architecture that expresses the model (its own for an imported llama, qwen2,
// qwen3 or mamba; `llama` for attention-only presets, `mamba` for SSM-only ones), that
// architecture's metadata keys, a tokenizer's tokenizer.ggml.* keys, and every weight under its
// llama.cpp name in llama.cpp's layout (the inverse of the architecture's import transforms, e.g.
// llama's q/k rows permuted for its pairwise RoPE, mamba's A as -exp(A_log)). Quantized output types
// choose each tensor's type as llama.cpp's llama-quantize does (GgufTypeMixture) and encode it with
// ggml's reference quantizers (trainer/quant/ggml_types.h). Files are written atomically (write_gguf).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arch/architecture.h"
#include "trainer/formats/gguf.h"
#include "trainer/model_config.h"

namespace trainer {

// --outtype: the type of the 2-D weights (llama.cpp's file types ALL_F32, MOSTLY_F16, MOSTLY_BF16,
// MOSTLY_Q8_0, MOSTLY_Q4_0, MOSTLY_Q4_K_M).
enum class GgufOutType { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_K_M };
// "f32", "f16", "bf16", "q8_0", "q4_0", "q4_k_m" (case-insensitive); InvalidArgument listing them.
common::Result<GgufOutType> parse_gguf_outtype(const std::string& text);
const char* gguf_outtype_name(GgufOutType t);
uint32_t gguf_file_type(GgufOutType t);  // llama_ftype's value (general.file_type)

// The tensor type llama.cpp's llama_model_quantize (no importance matrix, not --pure) gives each
// tensor of a model converted to `outtype`, asked in file order (its counters of attn_v and ffn_down
// tensors advance as it goes). Built from the whole tensor list (names and ggml dims) and the block
// count, as llama.cpp counts before quantizing.
class GgufTypeMixture {
 public:
  GgufTypeMixture(GgufOutType outtype, const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors,
                  int n_layers);
  // The ggml type id of tensor `name` with ggml dims `dims` (dims[0] contiguous).
  uint32_t type_of(const std::string& name, const std::vector<int64_t>& dims);

 private:
  GgufOutType outtype_;
  int n_layers_ = 0;
  int n_attn_v_ = 0, i_attn_v_ = 0, i_ffn_down_ = 0;
  bool tied_ = true;
  bool experts_ = false;  // the model has expert tensors (*_exps)
};

// The architecture `config` exports as. An imported model's own (`base_architecture`: its GGUF
// general.architecture or config.json model_type, "llama", "mistral", "qwen2", "qwen3", "mamba"; or
// the config's name when that is one) must still express it; otherwise an attention model is `qwen3`
// with q/k norms, `qwen2` with q/k/v biases, else `llama` (every block attn+mlp), and an SSM model
// `mamba` (every block ssm). InvalidArgument naming `source` and what llama.cpp cannot express
// (hybrid blocks, MoE, a bridge projection, a sliding window) otherwise.
common::Result<const Architecture*> gguf_export_architecture(const ModelConfig& config, const std::string& source,
                                                             const std::string& base_architecture = "");

// The tokenizer.ggml.* metadata of a tokenizer spec (trainer/tokenizers/tokenizer.h) for a model of
// `vocab_size` tokens: a GGUF vocabulary ("gguf:FILE", or a .gguf path) is copied with its chat
// template; "byte" becomes a byte-level vocabulary of 256 tokens without merges (each byte its own
// token); "gpt2:DIR" GPT-2's vocabulary and merges; a Hugging Face tokenizer.json (byte-level BPE)
// a `gpt2` vocabulary with the llama.cpp pre-tokenizer name of its regexes, a SentencePiece
// tokenizer.model a `llama` one (gguf_tokenizer_sources.h), each with its special ids, add_bos and
// chat template. A vocabulary shorter than the model is padded with unused tokens. `ours`: the
// tokenizer made from `spec` (loaded here when null). InvalidArgument naming the file for a
// tokenizer llama.cpp would not split as nightshift does (an unknown pre-tokenizer, a unigram model).
class Tokenizer;
common::Result<formats::GgufMetadata> gguf_tokenizer_metadata(const std::string& spec, int vocab_size,
                                                              const Tokenizer* ours = nullptr);

// What a model's GGUF file says besides its tensors.
struct GgufModelInfo {
  const Architecture* arch = nullptr;
  ModelConfig config;
  std::string name;            // general.name
  int64_t context_length = 0;  // <arch>.context_length
  formats::GgufMetadata tokenizer;
  GgufOutType outtype = GgufOutType::kF32;
};

// nightshift's fp32 weight `ours` (e.g. "blocks.0.attn.q.weight"), setting its row-major shape.
using GgufWeightFn =
    std::function<common::Result<std::vector<float>>(const std::string& ours, std::vector<int64_t>* shape)>;

// Writes the model as a GGUF at `path` (atomically). Errors name the path or the weight.
common::Status write_gguf_model(const std::string& path, const GgufModelInfo& info, const GgufWeightFn& weight);

// One adapted matrix: its base weight's nightshift name, the base's (out, in), the active rank r,
// A (r, in) row-major and B transposed, Bt (r, out), as trainer/lora/adapter.h keeps them.
struct GgufLoraMatrix {
  std::string weight;  // "blocks.0.attn.q.weight"
  int64_t out = 0, in = 0;
  int rank = 0;
  const float* a = nullptr;
  const float* bt = nullptr;
};

// Writes a llama.cpp LoRA adapter (general.type=adapter, adapter.type=lora, adapter.lora.alpha) for
// the GGUF of `config` as `arch`: per matrix `<base tensor>.lora_a` (r, in) and `.lora_b` (out, r),
// F32, B's rows in the base tensor's GGUF row order. llama.cpp scales by alpha / r, so alpha is
// scale · r. Atomic; errors name the path.
common::Status write_gguf_lora(const std::string& path, const Architecture& arch, const ModelConfig& config,
                               const std::string& name, float scale, const std::vector<GgufLoraMatrix>& matrices);

}  // namespace trainer
