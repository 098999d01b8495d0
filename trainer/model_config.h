// ModelConfig: what a model is — vocabulary, widths and the list of blocks — and how it is read
// from TOML (a run config's [model] table, a model file, or a named preset in trainer/arch/presets/).
// Pure data plus validation; it allocates no tensors. Dimension letters used across trainer/:
//   B batch, T sequence, D d_model, E d_embed, V vocab, H heads, Hkv KV heads, Dh head dim,
//   F MLP width, Di SSM inner width, N SSM state, R dt rank, K conv width, X experts.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace trainer {

// The sub-layers a block is made of. Each sub-layer is pre-norm (RMSNorm) with a residual:
//   x = x + layer(rmsnorm(x)).
enum class LayerKind { kAttn, kMlp, kSsm, kMoe, kConv, kMamba2 };

// A block: one or more sub-layers, written "attn+mlp", "ssm", "ssm+moe", "attn+moe", "conv+mlp",
// "mamba2".
struct BlockSpec {
  std::vector<LayerKind> layers;
  bool operator==(const BlockSpec&) const = default;
};

struct AttnConfig {
  int n_heads = 4;
  int n_kv_heads = 0;       // grouped KV heads; 0 = n_heads. Must divide n_heads.
  int head_dim = 0;         // 0 = d_model / n_heads
  int window = 0;           // sliding window in tokens (a token sees itself and window-1 before); 0 = full causal
  float rope_theta = 10000.0f;  // RoPE base (rotate-half convention, as GPT-NeoX / Llama)
  bool qkv_bias = false;        // biases on the q, k, v projections (Qwen2)
  bool qk_norm = false;         // per-head RMSNorm of q and k over head_dim, before RoPE (Qwen3)
  // Llama-3.1 RoPE frequency scaling (Hugging Face rope_type "llama3"); factor 0 = off.
  float rope_scale_factor = 0.0f;
  float rope_low_freq_factor = 1.0f;
  float rope_high_freq_factor = 4.0f;
  int rope_original_context = 8192;
  bool rope = true;             // false: no positional rotation at all (Granite-4.0-H's "nope" attention)
  float score_scale = 0.0f;     // the scale of q·k; 0 = 1/sqrt(head_dim) (Granite's attention_multiplier)
  int rope_dim = 0;             // partial rotary: the first rope_dim dims of each head rotate (Bamba); 0 = all
};

struct MlpConfig {
  int d_ff = 0;             // SwiGLU hidden width; 0 = 4 * d_model
};

struct SsmConfig {
  int expand = 2;           // d_inner = expand * d_model
  int d_state = 16;         // N
  int d_conv = 4;           // K, causal depthwise conv width
  int dt_rank = 0;          // R; 0 = ceil(d_model / 16)
  bool dt_bc_norm = false;  // RMSNorm (with weights, eps = norm_eps) on x_proj's dt, B and C parts (Jamba)
};

struct ConvConfig {
  int l_cache = 3;          // L: kernel width of the short gated convolution (LFM2's conv_L_cache)
};

struct Mamba2Config {
  int d_inner = 0;          // Di = heads · head_dim; 0 = 2 * d_model
  int head_dim = 64;        // P
  int d_state = 128;        // N
  int d_conv = 4;           // K, causal depthwise conv width over xBC
  int n_groups = 1;         // G: B and C are shared by the heads of a group; divides the heads
  int chunk = 64;           // Q: chunk length of the scan (a speed setting; the result is the same)
};

struct MoeConfig {
  int n_experts = 8;        // X
  int top_k = 2;
  int d_expert = 0;         // SwiGLU width of each expert; 0 = 2 * d_model
  bool shared_expert = true;
  int d_shared = 0;         // width of the shared expert; 0 = d_expert
  float aux_loss_weight = 0.01f;  // Switch-style load-balancing loss weight
  bool renormalize = true;  // the top-k gates divided by their sum (Mixtral, Granite); false: the plain
                            // softmax probabilities (Jamba)
};

struct ModelConfig {
  std::string name = "custom";
  int vocab_size = 256;     // V
  int d_model = 128;        // D
  int d_embed = 0;          // E: embedding / head width; 0 = d_model. E != D adds bridge projections.
  bool tied_embedding = true;
  float norm_eps = 1e-5f;
  float init_std = 0.02f;
  // µP multipliers (Granite): the embedding's output times embedding_scale, every sub-layer's output
  // times residual_scale before the residual add, the logits divided by logit_scale. 1 = none.
  float embedding_scale = 1.0f;
  float residual_scale = 1.0f;
  float logit_scale = 1.0f;
  std::vector<BlockSpec> blocks;
  AttnConfig attn;
  MlpConfig mlp;
  SsmConfig ssm;
  MoeConfig moe;
  ConvConfig conv;
  Mamba2Config mamba2;

  // Resolved dimensions (the 0 = default rules above applied).
  int embed_dim() const { return d_embed > 0 ? d_embed : d_model; }
  bool has_bridge() const { return embed_dim() != d_model; }
  int kv_heads() const { return attn.n_kv_heads > 0 ? attn.n_kv_heads : attn.n_heads; }
  int head_dim() const { return attn.head_dim > 0 ? attn.head_dim : d_model / attn.n_heads; }
  int rotary_dim() const { return attn.rope_dim > 0 ? attn.rope_dim : head_dim(); }
  int ff_dim() const { return mlp.d_ff > 0 ? mlp.d_ff : 4 * d_model; }
  int inner_dim() const { return ssm.expand * d_model; }
  int dt_rank() const { return ssm.dt_rank > 0 ? ssm.dt_rank : (d_model + 15) / 16; }
  int expert_dim() const { return moe.d_expert > 0 ? moe.d_expert : 2 * d_model; }
  int shared_dim() const { return moe.d_shared > 0 ? moe.d_shared : expert_dim(); }
  int n_layers_of(LayerKind kind) const;
  bool has_layer(LayerKind kind) const { return n_layers_of(kind) > 0; }
};

const char* layer_kind_name(LayerKind kind);  // "attn", "mlp", "ssm", "moe"
std::string block_spec_to_string(const BlockSpec& spec);  // "attn+moe"
// Parses "ssm+moe". InvalidArgument naming the unknown kind and listing the known ones.
common::Result<BlockSpec> parse_block_spec(std::string_view text);

// Checks every field (positive sizes, heads divide, top_k <= n_experts, window > 0 when set, ...).
// The message names the field and why it is wrong; `source` (a file name) prefixes it.
common::Status validate_model_config(const ModelConfig& config, const std::string& source = "model");

// Parses a TOML document holding a model: either at the top level or in a [model] table.
// Keys: name, preset (start from a preset, then override), vocab_size, d_model, d_embed,
// tied_embedding, norm_eps, init_std, embedding_scale, residual_scale, logit_scale, blocks, and tables [attn] [mlp] [ssm] [moe] with the fields
// above. `blocks` is an array of strings ("attn+mlp") or of tables {block = "ssm", repeat = 8}.
// Errors name `source_name` and, for syntax errors, line:column.
common::Result<ModelConfig> parse_model_config_toml(std::string_view text, const std::string& source_name);
common::Result<ModelConfig> load_model_config_file(const std::string& path);

// Named presets (trainer/arch/presets/*.toml, compiled into the binary). NotFound lists the names.
common::Result<ModelConfig> model_preset(const std::string& name);
std::vector<std::string> model_preset_names();
// The TOML text of a preset (for `nightshift ... --show-preset` and documentation).
common::Result<std::string> model_preset_text(const std::string& name);

}  // namespace trainer
