// The architecture table, lookups by config.json model_type or GGUF architecture name, and the
// tensor transforms (architecture.h).
#include "trainer/arch/architecture.h"

#include <cmath>
#include <cstring>

#include "common/check.h"

namespace trainer {

extern const Architecture kLlamaArchitecture;  // arch/llama.cpp
extern const Architecture kMambaArchitecture;  // arch/mamba.cpp
extern const Architecture kQwen2Architecture;  // arch/qwen.cpp
extern const Architecture kQwen3Architecture;  // arch/qwen.cpp
extern const Architecture kLfm2Architecture;   // arch/lfm2.cpp
extern const Architecture kMamba2Architecture; // arch/mamba2.cpp
extern const Architecture kGraniteHybridArchitecture;  // arch/granite_hybrid.cpp
extern const Architecture kJambaArchitecture;  // arch/jamba.cpp
extern const Architecture kBambaArchitecture;  // arch/bamba.cpp (its GGUF files are granitehybrid)

namespace {
const Architecture* const kArchitectures[] = {&kLlamaArchitecture, &kQwen2Architecture, &kQwen3Architecture,
                                              &kMambaArchitecture, &kLfm2Architecture, &kMamba2Architecture,
                                              &kGraniteHybridArchitecture, &kJambaArchitecture,
                                              &kBambaArchitecture};
}  // namespace

std::span<const Architecture* const> architectures() { return kArchitectures; }

std::string architecture_names() {
  std::string s;
  for (const Architecture* a : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(a->name);
  return s;
}

common::Result<const Architecture*> architecture_for_hf(const HfConfig& config) {
  NS_ASSIGN_OR_RETURN(std::optional<std::string> type, config.get_string({"model_type"}));
  if (!type) {
    return common::Status::InvalidArgument(config.source() + ": no 'model_type' (supported architectures: " +
                                           architecture_names() + ")");
  }
  for (const Architecture* a : kArchitectures) {
    for (const char* t : a->hf_model_types) {
      if (*type == t) return a;
    }
  }
  return common::Status::InvalidArgument(config.source() + ": model_type '" + *type +
                                         "' is not supported (supported architectures: " + architecture_names() + ")");
}

common::Result<const Architecture*> architecture_for_gguf(const std::string& name, const std::string& source) {
  for (const Architecture* a : kArchitectures) {
    for (const char* t : a->gguf_names) {
      if (name == t) return a;
    }
  }
  return common::Status::InvalidArgument(source + ": architecture '" + name +
                                         "' is not supported (supported architectures: " + architecture_names() + ")");
}

namespace {

common::Result<const formats::GgufValue*> arch_value(const formats::GgufFile& f, const std::string& key) {
  NS_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  return f.find(arch + "." + key);
}

}  // namespace

common::Result<int64_t> gguf_arch_int(const formats::GgufFile& f, const std::string& key,
                                      std::optional<int64_t> fallback) {
  NS_ASSIGN_OR_RETURN(const formats::GgufValue* v, arch_value(f, key));
  NS_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (v == nullptr) {
    if (fallback) return *fallback;
    return common::Status::InvalidArgument(f.path() + ": missing " + arch + "." + key);
  }
  if (!v->is_int()) return common::Status::InvalidArgument(f.path() + ": " + arch + "." + key + " is not an integer");
  return v->i;
}

common::Result<GgufHybridLayers> gguf_hybrid_layers(const formats::GgufFile& f, int64_t layers,
                                                    const std::string& recurrent) {
  NS_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  const std::string kv_key = arch + ".attention.head_count_kv";
  const formats::GgufValue* kv = f.find(kv_key);
  if (kv == nullptr || kv->ints.size() != static_cast<size_t>(layers))
    return common::Status::InvalidArgument(f.path() + ": " + kv_key + " must list the KV heads of each of the " +
                                           std::to_string(layers) + " layers (0 for a " + recurrent + " layer)");
  GgufHybridLayers out;
  for (int64_t n : kv->ints) {
    out.attention.push_back(n != 0);
    if (n != 0 && out.kv_heads != 0 && n != out.kv_heads)
      return common::Status::InvalidArgument(f.path() +
                                             ": attention layers with different KV head counts are not supported");
    if (n != 0) out.kv_heads = n;
  }
  return out;
}

common::Result<double> gguf_arch_float(const formats::GgufFile& f, const std::string& key,
                                       std::optional<double> fallback) {
  NS_ASSIGN_OR_RETURN(const formats::GgufValue* v, arch_value(f, key));
  NS_ASSIGN_OR_RETURN(std::string arch, f.get_string("general.architecture"));
  if (v == nullptr) {
    if (fallback) return *fallback;
    return common::Status::InvalidArgument(f.path() + ": missing " + arch + "." + key);
  }
  if (v->is_float()) return v->f;
  if (v->is_int()) return static_cast<double>(v->i);
  return common::Status::InvalidArgument(f.path() + ": " + arch + "." + key + " is not a number");
}

common::Result<ModelConfig> gguf_attn_mlp_config(const formats::GgufFile& f, double default_eps,
                                                 double default_theta, bool read_window) {
  ModelConfig c;
  const formats::GgufTensor* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return common::Status::InvalidArgument(f.path() + ": no token_embd.weight tensor");
  NS_ASSIGN_OR_RETURN(int64_t d_model, gguf_arch_int(f, "embedding_length"));
  NS_ASSIGN_OR_RETURN(int64_t layers, gguf_arch_int(f, "block_count"));
  NS_ASSIGN_OR_RETURN(int64_t heads, gguf_arch_int(f, "attention.head_count"));
  NS_ASSIGN_OR_RETURN(int64_t kv_heads, gguf_arch_int(f, "attention.head_count_kv", heads));
  NS_ASSIGN_OR_RETURN(int64_t d_ff, gguf_arch_int(f, "feed_forward_length"));
  NS_ASSIGN_OR_RETURN(int64_t head_dim, gguf_arch_int(f, "attention.key_length", heads > 0 ? d_model / heads : 0));
  NS_ASSIGN_OR_RETURN(int64_t window, read_window ? gguf_arch_int(f, "attention.sliding_window", 0) : int64_t{0});
  NS_ASSIGN_OR_RETURN(double eps, gguf_arch_float(f, "attention.layer_norm_rms_epsilon", default_eps));
  NS_ASSIGN_OR_RETURN(double theta, gguf_arch_float(f, "rope.freq_base", default_theta));
  c.vocab_size = static_cast<int>(embd->rows());
  c.d_model = static_cast<int>(d_model);
  c.blocks.assign(static_cast<size_t>(layers), BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  c.attn.n_heads = static_cast<int>(heads);
  c.attn.n_kv_heads = static_cast<int>(kv_heads);
  c.attn.head_dim = static_cast<int>(head_dim);
  c.attn.window = static_cast<int>(window);
  c.attn.rope_theta = static_cast<float>(theta);
  c.mlp.d_ff = static_cast<int>(d_ff);
  c.norm_eps = static_cast<float>(eps);
  c.tied_embedding = f.find_tensor("output.weight") == nullptr;
  return c;
}

namespace {

void rope_permute(int heads, int rotary, const float* in, float* out, int64_t rows, int64_t cols, bool to_theirs) {
  const std::vector<int32_t> order = rope_row_order(heads, rows, rotary);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t theirs = order[static_cast<size_t>(r)];
    std::memcpy(out + (to_theirs ? theirs : r) * cols, in + (to_theirs ? r : theirs) * cols, sizeof(float) * cols);
  }
}

}  // namespace

std::vector<int32_t> rope_row_order(int heads, int64_t rows, int rotary) {
  CHECK(heads > 0 && rows % (2 * heads) == 0);
  const int64_t dh = rows / heads, rot = rotary > 0 ? rotary : dh, half = rot / 2;
  CHECK(rot % 2 == 0 && rot <= dh);
  std::vector<int32_t> order(static_cast<size_t>(rows));
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t r = rot; r < dh; ++r) order[static_cast<size_t>(h * dh + r)] = static_cast<int32_t>(h * dh + r);
    for (int64_t j = 0; j < 2; ++j)
      for (int64_t i = 0; i < half; ++i)
        order[static_cast<size_t>(h * dh + j * half + i)] = static_cast<int32_t>(h * dh + 2 * i + j);
  }
  return order;
}

void transform_to_ours(TensorTransform t, int heads, const float* in, float* out, int64_t rows, int64_t cols,
                       int rotary) {
  const int64_t n = rows * cols;
  switch (t) {
    case TensorTransform::kNone: std::memmove(out, in, sizeof(float) * n); return;
    case TensorTransform::kRopePermute: rope_permute(heads, rotary, in, out, rows, cols, false); return;
    case TensorTransform::kNegExp:
      for (int64_t i = 0; i < n; ++i) out[i] = std::log(-in[i]);
      return;
  }
}

void transform_to_theirs(TensorTransform t, int heads, const float* in, float* out, int64_t rows, int64_t cols,
                         int rotary) {
  const int64_t n = rows * cols;
  switch (t) {
    case TensorTransform::kNone: std::memmove(out, in, sizeof(float) * n); return;
    case TensorTransform::kRopePermute: rope_permute(heads, rotary, in, out, rows, cols, true); return;
    case TensorTransform::kNegExp:
      for (int64_t i = 0; i < n; ++i) out[i] = -std::exp(in[i]);
      return;
  }
}

}  // namespace trainer
