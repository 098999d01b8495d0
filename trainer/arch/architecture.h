// Architectures: where a model of another tool comes from. One row per architecture (llama, mamba,
// ...) maps an external description — a Hugging Face config.json, a GGUF metadata set — to a
// ModelConfig, and external tensor names and layouts to nightshift's (docs/model.md), with the
// transform each tensor needs on the way in (and inverted on the way out). nightshift's own presets
// and model TOML files are the `nightshift` description and need no mapping.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arch/hf_config.h"
#include "trainer/formats/gguf.h"
#include "trainer/model_config.h"

namespace trainer {

enum class TensorTransform {
  kNone,         // same values, same row-major layout (a reshape at most)
  kRopePermute,  // GGUF llama q/k rows: each head's halves interleaved in pairs (llama.cpp's RoPE)
  kNegExp,       // GGUF mamba ssm_a = -exp(A_log)
};

struct TensorMapping {
  std::string ours;                 // "blocks.0.attn.q.weight"
  std::vector<std::string> theirs;  // the external name, then accepted alternatives
  TensorTransform transform = TensorTransform::kNone;
  int heads = 0;                    // kRopePermute: heads of this tensor (q: n_heads, k: n_kv_heads)
  int rotary = 0;                   // kRopePermute: the rotated rows of each head (partial rotary); 0 = all
  // A tensor that is part of a fused external one (Granite's shared_mlp.input_linear holds gate and
  // up; a GGUF ffn_gate_exps holds every expert's gate): ours is row block `slice` of `slices` equal
  // blocks of theirs, its rows taken in order over all leading dimensions. slices 0 = the whole tensor.
  int slice = 0;
  int slices = 0;
  // With slices: the external tensor's row-major shape, as an export writes it (empty: the blocks'
  // rows stacked into one matrix).
  std::vector<int64_t> whole = {};
};

struct Architecture {
  const char* name;                                // "llama"
  std::span<const char* const> hf_model_types;     // config.json "model_type" values it reads
  std::span<const char* const> gguf_names;         // GGUF general.architecture values it reads
  common::Result<ModelConfig> (*from_hf)(const HfConfig& config);
  // The same from a GGUF file's `<arch>.*` metadata and tensor shapes (the vocabulary size from
  // token_embd, tied when the file has no output.weight).
  common::Result<ModelConfig> (*from_gguf)(const formats::GgufFile& file);
  // Every weight of `config` with its names in Hugging Face checkpoints and in GGUF files.
  std::vector<TensorMapping> (*hf_tensors)(const ModelConfig& config);
  std::vector<TensorMapping> (*gguf_tensors)(const ModelConfig& config);
};

std::span<const Architecture* const> architectures();
std::string architecture_names();  // "llama, mamba" (for error messages)
// The architecture of a config.json by its model_type. InvalidArgument naming the file, the type
// and the supported ones.
common::Result<const Architecture*> architecture_for_hf(const HfConfig& config);
common::Result<const Architecture*> architecture_for_gguf(const std::string& gguf_architecture,
                                                          const std::string& source);

// Converts external data of a tensor to nightshift's layout (in and out: `rows` x `cols` floats) and
// back. kRopePermute needs rows % (2 * heads) == 0; kNegExp is elementwise.
// Reads `<general.architecture>.<key>` of a GGUF file: gguf_int/gguf_float return `fallback` when
// absent (nullopt fallback: InvalidArgument "FILE: missing KEY"); a present value of another type is
// InvalidArgument naming the key.
common::Result<int64_t> gguf_arch_int(const formats::GgufFile& f, const std::string& key,
                                      std::optional<int64_t> fallback = std::nullopt);
common::Result<double> gguf_arch_float(const formats::GgufFile& f, const std::string& key,
                                       std::optional<double> fallback = std::nullopt);

// A hybrid GGUF's per-layer `attention.head_count_kv` (llama.cpp's is_recr: 0 for a recurrent layer):
// which of the `layers` are attention, and the KV heads they share (0 when none is). InvalidArgument
// naming the file when the list is missing or of another length ("0 for a <recurrent> layer"), or
// when the attention layers differ.
struct GgufHybridLayers {
  std::vector<bool> attention;
  int64_t kv_heads = 0;
};
common::Result<GgufHybridLayers> gguf_hybrid_layers(const formats::GgufFile& f, int64_t layers,
                                                    const std::string& recurrent);

// The part of a llama-style GGUF's config that llama and its relatives share: vocabulary (from
// token_embd), width, blocks of attn+mlp, heads, KV heads, head_dim, SwiGLU width, norm eps, RoPE
// base (the defaults given when the file has none), tied embeddings (no output.weight) and, with
// `read_window`, the sliding window. The caller adds its own fields and validates.
common::Result<ModelConfig> gguf_attn_mlp_config(const formats::GgufFile& f, double default_eps,
                                                 double default_theta, bool read_window);

// llama.cpp's permutation of q/k rows (its converter's `permute`) as a row order: our row h*Dh +
// j*half + i (rotate-half order, half j of pair i) is the file's row h*Dh + 2i + j. With partial
// rotary only the first `rotary` rows of a head are paired (half = rotary/2), the rest stay (0 = all).
std::vector<int32_t> rope_row_order(int heads, int64_t rows, int rotary = 0);
void transform_to_ours(TensorTransform t, int heads, const float* in, float* out, int64_t rows, int64_t cols,
                       int rotary = 0);
void transform_to_theirs(TensorTransform t, int heads, const float* in, float* out, int64_t rows, int64_t cols,
                         int rotary = 0);

}  // namespace trainer
