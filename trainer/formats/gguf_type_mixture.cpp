// The --outtype of a GGUF export and the per-tensor type choice of llama.cpp's llama-quantize for the
// file types nightshift writes (src/llama-quant.cpp: tensor_allows_quantization, the Q4_K_M
// mixture of llama_tensor_get_type_impl, tensor_type_fallback), without an importance matrix:
//   - only tensors of 2+ dims whose name ends in "weight" are converted; norms, ssm_conv1d and shortconv.conv stay F32;
//   - the output matrix (and the token embedding when it is tied) becomes Q6_K under a quantized
//     type other than Q8_0, or Q8_0 when its rows are not whole blocks of the file's type;
//   - Q4_K_M: attn_v and ffn_down of the layers use_more_bits picks (the first and last eighth and
//     every third in between) become Q6_K;
//   - a type whose block does not divide the rows falls back: Q4_K to Q5_0, Q6_K to Q8_0, and a
//     32-value type to F16.
#include <algorithm>
#include <cstdio>
#include <cctype>

#include "trainer/formats/gguf_export.h"
#include "trainer/quant/ggml_types.h"

namespace trainer {

using common::Result;
using common::Status;
namespace q = quant;

namespace {

struct OutTypeRow {
  GgufOutType t;
  const char* name;
  uint32_t ftype;         // llama_ftype
  uint32_t default_type;  // ggml type of the 2-D weights
};
constexpr OutTypeRow kOutTypes[] = {
    {GgufOutType::kF32, "f32", 0, q::kGgmlF32},     {GgufOutType::kF16, "f16", 1, q::kGgmlF16},
    {GgufOutType::kBF16, "bf16", 32, q::kGgmlBF16}, {GgufOutType::kQ8_0, "q8_0", 7, q::kGgmlQ8_0},
    {GgufOutType::kQ4_0, "q4_0", 2, q::kGgmlQ4_0},  {GgufOutType::kQ4_K_M, "q4_k_m", 15, q::kGgmlQ4_K},
};

const OutTypeRow& row_of(GgufOutType t) {
  for (const OutTypeRow& r : kOutTypes)
    if (r.t == t) return r;
  return kOutTypes[0];
}

int64_t block_of(uint32_t type) { return q::type_traits(type)->block_elems; }
bool is_quantized(uint32_t type) { return type != q::kGgmlF32 && type != q::kGgmlF16 && type != q::kGgmlBF16; }
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// ggml_n_dims: the dims up to the last one above 1.
int n_dims(const std::vector<int64_t>& dims) {
  int n = 1;
  for (size_t i = 1; i < dims.size(); ++i)
    if (dims[i] > 1) n = static_cast<int>(i) + 1;
  return n;
}

bool allows_quantization(const std::string& name, const std::vector<int64_t>& dims) {
  if (n_dims(dims) < 2) return false;
  if (name.size() < 6 || name.compare(name.size() - 6, 6, "weight") != 0) return false;
  return !contains(name, "_norm.weight") && !contains(name, "ssm_conv1d") && !contains(name, "shortconv.conv.weight") &&
         !contains(name, "ffn_gate_inp.weight");
}

bool use_more_bits(int i_layer, int n_layers) {
  return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

}  // namespace

Result<GgufOutType> parse_gguf_outtype(const std::string& text) {
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string names;
  for (const OutTypeRow& r : kOutTypes) {
    if (lower == r.name) return r.t;
    names += (names.empty() ? "" : ", ") + std::string(r.name);
  }
  return Status::InvalidArgument("--outtype '" + text + "' is not one of " + names);
}

const char* gguf_outtype_name(GgufOutType t) { return row_of(t).name; }
uint32_t gguf_file_type(GgufOutType t) { return row_of(t).ftype; }

GgufTypeMixture::GgufTypeMixture(GgufOutType outtype,
                                 const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors, int n_layers)
    : outtype_(outtype), n_layers_(n_layers) {
  for (const auto& [name, dims] : tensors) {
    if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight")) ++n_attn_v_;
    if (name == "output.weight") tied_ = false;
    if (contains(name, "_exps.")) experts_ = true;
  }
}

uint32_t GgufTypeMixture::type_of(const std::string& name, const std::vector<int64_t>& dims) {
  if (!allows_quantization(name, dims)) return q::kGgmlF32;  // as the source (an F32 model) has it
  const uint32_t default_type = row_of(outtype_).default_type;
  if (!is_quantized(default_type)) return default_type;
  uint32_t t = default_type;
  const bool q4_k_m = outtype_ == GgufOutType::kQ4_K_M;
  if (name == "output.weight" || (tied_ && name == "token_embd.weight")) {
    if (dims[0] % block_of(t) != 0)
      t = q::kGgmlQ8_0;
    else if (t != q::kGgmlQ8_0)
      t = q::kGgmlQ6_K;
  } else if (name == "token_embd.weight") {
    // the file type's own
  } else if (contains(name, "attn_v.weight") || contains(name, "attn_qkv.weight")) {
    if (q4_k_m && use_more_bits(i_attn_v_, n_attn_v_)) t = q::kGgmlQ6_K;
    ++i_attn_v_;
  } else if (contains(name, "ffn_down")) {
    // With experts a layer has several ffn_down tensors (experts, shared): llama-quantize then
    // takes the layer from the name.
    int layer = i_ffn_down_;
    if (experts_) std::sscanf(name.c_str(), "blk.%d.", &layer);
    if (q4_k_m && use_more_bits(layer, n_layers_)) t = q::kGgmlQ6_K;
    ++i_ffn_down_;
  }
  // tensor_type_fallback: rows that are not whole blocks of the chosen type.
  const int64_t cols = dims[0];
  if (cols % block_of(t) != 0) {
    if (t == q::kGgmlQ4_K)
      t = q::kGgmlQ5_0;
    else if (t == q::kGgmlQ6_K)
      t = q::kGgmlQ8_0;
    if (cols % block_of(t) != 0) t = q::kGgmlF16;
  }
  return t;
}

}  // namespace trainer
