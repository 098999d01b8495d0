// GGUF export of models and LoRA adapters (gguf_export.h): which architecture a model is written as,
// that architecture's metadata keys (as llama.cpp's converter writes them), the tensors through the
// architecture's GGUF name table and the inverse of its import transforms, each encoded in the type
// GgufTypeMixture picks, and llama.cpp's LoRA adapter layout.
#include "trainer/formats/gguf_export.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "trainer/layers/mamba2_block.h"
#include "trainer/quant/ggml_types.h"

namespace trainer {

using common::Result;
using common::Status;
using formats::GgufMetadata;
using formats::GgufValue;

namespace {

const Architecture* by_name(const std::string& name) {
  for (const Architecture* a : architectures())
    if (name == a->name) return a;
  return nullptr;
}

bool all_blocks(const ModelConfig& c, const BlockSpec& spec) {
  for (const BlockSpec& b : c.blocks)
    if (!(b == spec)) return false;
  return !c.blocks.empty();
}

// Llama 3.1's per-pair RoPE factors as llama.cpp's converter computes rope_freqs.weight.
std::vector<float> llama3_rope_factors(const ModelConfig& c) {
  const AttnConfig& a = c.attn;
  const int dh = c.head_dim();
  const double low_wavelen = a.rope_original_context / a.rope_low_freq_factor;
  const double high_wavelen = a.rope_original_context / a.rope_high_freq_factor;
  std::vector<float> f;
  for (int i = 0; i < dh; i += 2) {
    const double freq = 1.0 / std::pow(static_cast<double>(a.rope_theta), static_cast<double>(i) / dh);
    const double wavelen = 2 * M_PI / freq;
    if (wavelen < high_wavelen) {
      f.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      f.push_back(a.rope_scale_factor);
    } else {
      const double smooth = (a.rope_original_context / wavelen - a.rope_low_freq_factor) /
                            (a.rope_high_freq_factor - a.rope_low_freq_factor);
      f.push_back(static_cast<float>(1.0 / ((1 - smooth) / a.rope_scale_factor + smooth)));
    }
  }
  return f;
}

void put_u32(GgufMetadata& m, const std::string& key, int64_t v) {
  m.emplace_back(key, GgufValue::u32(static_cast<uint32_t>(v)));
}

// <arch>.* keys of the model.
GgufMetadata arch_metadata(const GgufModelInfo& info) {
  const ModelConfig& c = info.config;
  const std::string a = info.arch->name;
  GgufMetadata m;
  put_u32(m, a + ".context_length", info.context_length);
  put_u32(m, a + ".embedding_length", c.d_model);
  put_u32(m, a + ".block_count", static_cast<int64_t>(c.blocks.size()));
  if (a == "lfm2") {  // llama.cpp's converter: head_count_kv per layer, 0 for a conv layer
    std::vector<int64_t> kv;
    for (const BlockSpec& b : c.blocks) kv.push_back(b.layers.front() == LayerKind::kConv ? 0 : c.kv_heads());
    put_u32(m, a + ".feed_forward_length", c.ff_dim());
    put_u32(m, a + ".attention.head_count", c.attn.n_heads);
    m.emplace_back(a + ".attention.head_count_kv", GgufValue::int_array(formats::GgufType::kU32, kv));
    put_u32(m, a + ".shortconv.l_cache", c.conv.l_cache);
    m.emplace_back(a + ".rope.freq_base", GgufValue::f32(c.attn.rope_theta));
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
  } else if (a == "granitehybrid") {  // as llama.cpp's converter writes Granite-4.0-H
    const Mamba2Dims d = mamba2_dims(c, 1, 1);
    std::vector<int64_t> kv;  // per layer, 0 for a Mamba layer
    for (const BlockSpec& b : c.blocks) kv.push_back(b.layers.front() == LayerKind::kMamba2 ? 0 : c.kv_heads());
    if (c.has_layer(LayerKind::kMoe)) {  // feed_forward_length is then each expert's width
      put_u32(m, a + ".feed_forward_length", c.expert_dim());
      put_u32(m, a + ".expert_count", c.moe.n_experts);
      put_u32(m, a + ".expert_used_count", c.moe.top_k);
      if (c.moe.shared_expert) put_u32(m, a + ".expert_shared_feed_forward_length", c.shared_dim());
    } else {
      put_u32(m, a + ".feed_forward_length", c.ff_dim());
    }
    put_u32(m, a + ".attention.head_count", c.attn.n_heads);
    m.emplace_back(a + ".attention.head_count_kv", GgufValue::int_array(formats::GgufType::kU32, kv));
    put_u32(m, a + ".rope.dimension_count", c.rotary_dim());
    m.emplace_back(a + ".rope.freq_base", GgufValue::f32(c.attn.rope_theta));
    m.emplace_back(a + ".rope.scaling.finetuned", GgufValue::boolean(c.attn.rope));  // false: no RoPE
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
    put_u32(m, a + ".ssm.conv_kernel", d.K);
    put_u32(m, a + ".ssm.inner_size", d.Di);
    put_u32(m, a + ".ssm.state_size", d.N);
    put_u32(m, a + ".ssm.time_step_rank", d.H);
    put_u32(m, a + ".ssm.group_count", d.G);
    m.emplace_back(a + ".embedding_scale", GgufValue::f32(c.embedding_scale));
    m.emplace_back(a + ".residual_scale", GgufValue::f32(c.residual_scale));
    m.emplace_back(a + ".logit_scale", GgufValue::f32(c.logit_scale));
    m.emplace_back(a + ".attention.scale", GgufValue::f32(c.attn.score_scale));  // 0: 1/sqrt(head_dim)
  } else if (a == "jamba") {  // as llama.cpp's converter writes Jamba
    std::vector<int64_t> kv;  // per layer, 0 for a Mamba layer
    for (const BlockSpec& b : c.blocks) kv.push_back(b.layers.front() == LayerKind::kSsm ? 0 : c.kv_heads());
    put_u32(m, a + ".feed_forward_length", c.has_layer(LayerKind::kMlp) ? c.ff_dim() : c.expert_dim());
    put_u32(m, a + ".attention.head_count", c.attn.n_heads);
    m.emplace_back(a + ".attention.head_count_kv", GgufValue::int_array(formats::GgufType::kU32, kv));
    put_u32(m, a + ".ssm.conv_kernel", c.ssm.d_conv);
    put_u32(m, a + ".ssm.inner_size", c.inner_dim());
    put_u32(m, a + ".ssm.state_size", c.ssm.d_state);
    put_u32(m, a + ".ssm.time_step_rank", c.dt_rank());
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
    if (c.has_layer(LayerKind::kMoe)) {
      put_u32(m, a + ".expert_count", c.moe.n_experts);
      put_u32(m, a + ".expert_used_count", c.moe.top_k);
    }
  } else if (a == "mamba2") {  // llama.cpp reads the number of heads from ssm.time_step_rank
    const Mamba2Dims d = mamba2_dims(c, 1, 1);
    put_u32(m, a + ".feed_forward_length", 0);
    put_u32(m, a + ".attention.head_count", 0);
    put_u32(m, a + ".ssm.conv_kernel", d.K);
    put_u32(m, a + ".ssm.inner_size", d.Di);
    put_u32(m, a + ".ssm.state_size", d.N);
    put_u32(m, a + ".ssm.time_step_rank", d.H);
    put_u32(m, a + ".ssm.group_count", d.G);
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
  } else if (a == "mamba") {
    put_u32(m, a + ".feed_forward_length", 0);
    put_u32(m, a + ".attention.head_count", 0);
    put_u32(m, a + ".ssm.conv_kernel", c.ssm.d_conv);
    put_u32(m, a + ".ssm.inner_size", c.inner_dim());
    put_u32(m, a + ".ssm.state_size", c.ssm.d_state);
    put_u32(m, a + ".ssm.time_step_rank", c.dt_rank());
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
    m.emplace_back(a + ".ssm.dt_b_c_rms", GgufValue::boolean(false));
  } else {
    put_u32(m, a + ".feed_forward_length", c.ff_dim());
    put_u32(m, a + ".attention.head_count", c.attn.n_heads);
    put_u32(m, a + ".attention.head_count_kv", c.kv_heads());
    put_u32(m, a + ".attention.key_length", c.head_dim());
    put_u32(m, a + ".attention.value_length", c.head_dim());
    put_u32(m, a + ".rope.dimension_count", c.head_dim());
    m.emplace_back(a + ".rope.freq_base", GgufValue::f32(c.attn.rope_theta));
    m.emplace_back(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.norm_eps));
  }
  put_u32(m, a + ".vocab_size", c.vocab_size);
  return m;
}

// One tensor in its GGUF type: the fp32 values (row-major, `dims` in ggml order) encoded row by row.
struct Encoded {
  std::string name;
  uint32_t type;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
};

Encoded encode(std::string name, uint32_t type, std::vector<int64_t> dims, const std::vector<float>& v) {
  const quant::TypeTraits& t = *quant::type_traits(type);
  const int64_t cols = dims.empty() ? 1 : dims[0];
  const int64_t rows = cols == 0 ? 0 : static_cast<int64_t>(v.size()) / cols;
  const size_t stride = quant::row_bytes(t, cols);
  Encoded e{std::move(name), type, std::move(dims), std::vector<uint8_t>(stride * rows)};
  for (int64_t r = 0; r < rows; ++r) t.encode_row(v.data() + r * cols, e.bytes.data() + r * stride, cols);
  return e;
}

Status write_encoded(const std::string& path, const GgufMetadata& meta, const std::vector<Encoded>& tensors) {
  std::vector<formats::GgufTensorRef> refs;
  for (const Encoded& e : tensors) refs.push_back({e.name, e.type, e.dims, e.bytes.data(), e.bytes.size()});
  return formats::write_gguf(path, meta, refs);
}

std::vector<int64_t> ggml_dims(const std::vector<int64_t>& shape) { return {shape.rbegin(), shape.rend()}; }

// The mappings that make up `first`'s GGUF tensor in row-block order: `first` alone, or every block
// of a fused one (each expert's gate in ffn_gate_exps). InvalidArgument when a block is missing.
Result<std::vector<const TensorMapping*>> tensor_blocks(const std::vector<TensorMapping>& mappings,
                                                        const TensorMapping& first) {
  if (first.slices == 0) return std::vector<const TensorMapping*>{&first};
  std::vector<const TensorMapping*> blocks(static_cast<size_t>(first.slices), nullptr);
  for (const TensorMapping& m : mappings)
    if (m.slices == first.slices && m.theirs.front() == first.theirs.front()) blocks[static_cast<size_t>(m.slice)] = &m;
  for (const TensorMapping* b : blocks)
    if (b == nullptr) return Status::InvalidArgument(first.theirs.front() + ": a block of the fused tensor has no weight");
  return blocks;
}

// The GGUF dims of a fused tensor of `blocks` blocks of `shape` each.
std::vector<int64_t> fused_dims(const TensorMapping& m, const std::vector<int64_t>& shape) {
  if (m.slices == 0) return ggml_dims(shape);
  if (!m.whole.empty()) return ggml_dims(m.whole);
  std::vector<int64_t> stacked = shape;
  stacked.front() *= m.slices;
  return ggml_dims(stacked);
}

}  // namespace

Result<const Architecture*> gguf_export_architecture(const ModelConfig& c, const std::string& source,
                                                     const std::string& base_architecture) {
  auto refuse = [&](const std::string& why) -> Status {
    return Status::InvalidArgument(source + ": model '" + c.name +
                                   "' cannot be written as a GGUF that llama.cpp runs: " + why);
  };
  const bool attn_mlp = all_blocks(c, BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}});
  const bool ssm = all_blocks(c, BlockSpec{{LayerKind::kSsm}});
  const std::string own = base_architecture.empty() ? c.name : base_architecture;
  const Architecture* named = by_name(own == "mistral" ? "llama" : own);
  // Without a known origin, the attention model's own features say which architecture it is.
  if (named == nullptr && !c.blocks.empty() && c.attn.qk_norm) named = by_name("qwen3");
  if (named == nullptr && !c.blocks.empty() && c.attn.qkv_bias) named = by_name("qwen2");
  if (c.has_bridge())
    return refuse("its input/output bridge projections (d_embed != d_model) have no llama.cpp tensor");
  if (c.has_layer(LayerKind::kConv) || (named != nullptr && std::string(named->name) == "lfm2")) {
    for (const BlockSpec& b : c.blocks) {
      if (b != BlockSpec{{LayerKind::kConv, LayerKind::kMlp}} && b != BlockSpec{{LayerKind::kAttn, LayerKind::kMlp}})
        return refuse("llama.cpp's lfm2 architecture needs every block conv+mlp or attn+mlp");
    }
    if (c.has_layer(LayerKind::kAttn) && (!c.attn.qk_norm || c.attn.qkv_bias || c.attn.window > 0 ||
                                          c.attn.rope_scale_factor > 0 || c.head_dim() * c.attn.n_heads != c.d_model))
      return refuse(
          "lfm2 attention has q/k norms, no biases, no sliding window, no RoPE scaling and heads of "
          "d_model / n_heads");
    return by_name("lfm2");
  }
  if ((named != nullptr && (std::string(named->name) == "granitehybrid" || std::string(named->name) == "bamba")) ||
      (c.has_layer(LayerKind::kMamba2) && !all_blocks(c, BlockSpec{{LayerKind::kMamba2}}))) {
    // Every block a Mamba-2 or attention mixer, then the MLP in every block or MoE in every block.
    const LayerKind ffn = c.has_layer(LayerKind::kMoe) ? LayerKind::kMoe : LayerKind::kMlp;
    for (const BlockSpec& b : c.blocks) {
      if (b != BlockSpec{{LayerKind::kMamba2, ffn}} && b != BlockSpec{{LayerKind::kAttn, ffn}})
        return refuse(
            "llama.cpp's granitehybrid architecture needs every block mamba2+mlp or attn+mlp, or every block "
            "mamba2+moe or attn+moe");
    }
    if (c.has_layer(LayerKind::kAttn) && (c.attn.qk_norm || c.attn.qkv_bias || c.attn.window > 0 ||
                                          c.attn.rope_scale_factor > 0 || c.head_dim() * c.attn.n_heads != c.d_model))
      return refuse(
          "granitehybrid attention has no q/k norms, biases, sliding window or RoPE scaling, and heads of "
          "d_model / n_heads");
    if (c.has_layer(LayerKind::kMamba2) && mamba2_dims(c, 1, 1).Di != 2 * c.d_model)
      return refuse("llama.cpp's granitehybrid needs the Mamba-2 inner width 2 x d_model");
    return by_name("granitehybrid");
  }
  if (c.ssm.dt_bc_norm || (named != nullptr && std::string(named->name) == "jamba")) {
    // Every block a Mamba-1 (with the dt/B/C norms) or attention mixer, then an MLP or experts.
    for (const BlockSpec& b : c.blocks) {
      if (b.layers.size() != 2 || (b.layers[0] != LayerKind::kSsm && b.layers[0] != LayerKind::kAttn) ||
          (b.layers[1] != LayerKind::kMlp && b.layers[1] != LayerKind::kMoe))
        return refuse("llama.cpp's jamba architecture needs every block ssm or attn, then mlp or moe");
    }
    if (!c.ssm.dt_bc_norm || c.inner_dim() != 2 * c.d_model)
      return refuse("llama.cpp's jamba has the dt/B/C norms (ssm.dt_bc_norm) and an inner width of 2 x d_model");
    if (c.has_layer(LayerKind::kAttn) && (c.attn.rope || c.attn.qk_norm || c.attn.qkv_bias || c.attn.window > 0 ||
                                          c.attn.score_scale > 0 || c.head_dim() * c.attn.n_heads != c.d_model))
      return refuse("jamba attention has no RoPE, q/k norms, biases, sliding window or score scale");
    if (c.has_layer(LayerKind::kMoe) &&
        (c.moe.renormalize || c.moe.shared_expert || (c.has_layer(LayerKind::kMlp) && c.expert_dim() != c.ff_dim())))
      return refuse("jamba's experts have plain softmax gates, no shared expert and the MLP's width");
    if (c.embedding_scale != 1.0f || c.residual_scale != 1.0f || c.logit_scale != 1.0f)
      return refuse("jamba has no µP multipliers");
    return by_name("jamba");
  }
  if (c.embedding_scale != 1.0f || c.residual_scale != 1.0f || c.logit_scale != 1.0f || c.attn.score_scale > 0 ||
      !c.attn.rope)
    return refuse("its µP multipliers, score scale or attention without RoPE are written for granitehybrid only");
  if (c.has_layer(LayerKind::kMamba2) || (named != nullptr && std::string(named->name) == "mamba2")) {
    if (!all_blocks(c, BlockSpec{{LayerKind::kMamba2}}))
      return refuse("llama.cpp's mamba2 architecture needs every block mamba2");
    return by_name("mamba2");
  }
  if (!attn_mlp && !ssm)
    return refuse(
        "llama.cpp's llama architecture needs every block attn+mlp and mamba every block ssm (this model mixes "
        "kinds or has MoE blocks)");
  if (ssm) {
    if (named != nullptr && std::string(named->name) != "mamba") return refuse("an ssm model named " + c.name);
    return by_name("mamba");
  }
  if (c.attn.window > 0) return refuse("llama.cpp's llama architecture has no sliding-window attention");
  if (named != nullptr && std::string(named->name) == "mamba") return refuse("an attention model named mamba");
  const Architecture* a = named != nullptr ? named : by_name("llama");
  const std::string n = a->name;
  if (n == "llama" && (c.attn.qkv_bias || c.attn.qk_norm))
    return refuse("q/k/v biases or q/k norms (qwen2 / qwen3 models are written as those architectures)");
  if (n == "qwen2" && c.attn.qk_norm) return refuse("qwen2 has no q/k norms");
  if (n != "llama" && c.attn.rope_scale_factor > 0) return refuse("RoPE scaling is written for llama only");
  return a;
}

Status write_gguf_model(const std::string& path, const GgufModelInfo& info, const GgufWeightFn& weight) {
  const ModelConfig& c = info.config;
  GgufMetadata meta;
  meta.emplace_back("general.architecture", GgufValue::string(info.arch->name));
  meta.emplace_back("general.type", GgufValue::string("model"));
  meta.emplace_back("general.name", GgufValue::string(info.name));
  for (auto& kv : arch_metadata(info)) meta.push_back(std::move(kv));
  meta.emplace_back("general.file_type", GgufValue::u32(gguf_file_type(info.outtype)));
  meta.emplace_back("general.quantization_version", GgufValue::u32(2));
  for (const auto& kv : info.tokenizer) meta.push_back(kv);

  const std::vector<TensorMapping> mappings = info.arch->gguf_tensors(c);
  const bool rope_freqs = std::string(info.arch->name) == "llama" && c.attn.rope_scale_factor > 0;
  std::vector<std::pair<std::string, std::vector<int64_t>>> listing;
  if (rope_freqs) listing.push_back({"rope_freqs.weight", {c.head_dim() / 2}});
  for (const TensorMapping& m : mappings)
    if (m.slice == 0) listing.push_back({m.theirs.front(), {}});
  GgufTypeMixture mixture(info.outtype, listing, static_cast<int>(c.blocks.size()));

  std::vector<Encoded> tensors;
  if (rope_freqs) {
    std::vector<float> f = llama3_rope_factors(c);
    tensors.push_back(encode("rope_freqs.weight", quant::kGgmlF32, {static_cast<int64_t>(f.size())}, f));
  }
  for (const TensorMapping& m : mappings) {
    if (m.slice != 0) continue;  // a later block of a fused tensor: written with its first
    NS_ASSIGN_OR_RETURN(std::vector<const TensorMapping*> blocks, tensor_blocks(mappings, m));
    std::vector<int64_t> shape;
    std::vector<float> theirs;
    for (const TensorMapping* b : blocks) {
      NS_ASSIGN_OR_RETURN(std::vector<float> ours, weight(b->ours, &shape));
      const int64_t rows = shape.empty() ? 1 : shape[0];
      const int64_t cols = rows == 0 ? 0 : static_cast<int64_t>(ours.size()) / rows;
      const size_t at = theirs.size();
      theirs.resize(at + ours.size());
      transform_to_theirs(b->transform, b->heads, ours.data(), theirs.data() + at, rows, cols, b->rotary);
    }
    std::vector<int64_t> dims = fused_dims(m, shape);
    const uint32_t type = mixture.type_of(m.theirs.front(), dims);
    tensors.push_back(encode(m.theirs.front(), type, std::move(dims), theirs));
  }
  return write_encoded(path, meta, tensors);
}

Status write_gguf_lora(const std::string& path, const Architecture& arch, const ModelConfig& config,
                       const std::string& name, float scale, const std::vector<GgufLoraMatrix>& matrices) {
  const std::vector<TensorMapping> mappings = arch.gguf_tensors(config);
  // One adapter per GGUF tensor: a block of a fused tensor (an expert of ffn_gate_exps) adds its
  // A and B as block `slice` of 3-D lora_a (blocks, r, in) and lora_b (blocks, out, r), which
  // llama.cpp multiplies per expert as it does the base.
  struct Adapter {
    const TensorMapping* m;
    int64_t out, in;
    std::vector<float> a, b;  // every block's (r, in) and (out, r), by slice
    int blocks = 0;
  };
  std::vector<Adapter> adapters;
  int rank = 0;
  for (const GgufLoraMatrix& mat : matrices) {
    const TensorMapping* m = nullptr;
    for (const TensorMapping& t : mappings)
      if (t.ours == mat.weight) m = &t;
    if (m == nullptr)
      return Status::InvalidArgument(path + ": adapted weight " + mat.weight + " has no tensor in llama.cpp's " +
                                     arch.name);
    if (m->transform != TensorTransform::kNone && m->transform != TensorTransform::kRopePermute)
      return Status::InvalidArgument(path + ": adapted weight " + mat.weight + " is transformed elementwise in GGUF");
    if (rank != 0 && mat.rank != rank)
      return Status::InvalidArgument(path + ": the adapters have different ranks (" + std::to_string(rank) + ", " +
                                     std::to_string(mat.rank) + ")");
    rank = mat.rank;
    const int64_t r = mat.rank;
    const int64_t slices = std::max(m->slices, 1);
    Adapter* ad = nullptr;
    for (Adapter& x : adapters)
      if (x.m->theirs.front() == m->theirs.front()) ad = &x;
    if (ad == nullptr) {
      adapters.push_back({m, mat.out, mat.in, std::vector<float>(slices * r * mat.in),
                          std::vector<float>(slices * mat.out * r)});
      ad = &adapters.back();
    }
    std::vector<float> b(mat.out * r);
    for (int64_t j = 0; j < r; ++j)
      for (int64_t o = 0; o < mat.out; ++o) b[o * r + j] = mat.bt[j * mat.out + o];
    // B's rows are the base weight's output rows: they take the base tensor's GGUF row order.
    transform_to_theirs(m->transform, m->heads, b.data(), ad->b.data() + m->slice * mat.out * r, mat.out, r,
                        m->rotary);
    std::copy_n(mat.a, r * mat.in, ad->a.data() + m->slice * r * mat.in);
    ++ad->blocks;
  }
  std::vector<Encoded> tensors;
  for (const Adapter& ad : adapters) {
    const TensorMapping& m = *ad.m;
    const std::string& base = m.theirs.front();
    if (ad.blocks != std::max(m.slices, 1))
      return Status::InvalidArgument(path + ": " + base + " is adapted in " + std::to_string(ad.blocks) + " of its " +
                                     std::to_string(m.slices) + " blocks (llama.cpp adapts all of them or none)");
    const int64_t r = rank;
    std::vector<int64_t> a_dims = {ad.in, r}, b_dims = {r, ad.out};
    if (m.slices > 0) {
      a_dims.push_back(m.slices);
      b_dims.push_back(m.slices);
    }
    tensors.push_back(encode(base + ".lora_a", quant::kGgmlF32, a_dims, ad.a));
    tensors.push_back(encode(base + ".lora_b", quant::kGgmlF32, b_dims, ad.b));
  }
  if (tensors.empty()) return Status::InvalidArgument(path + ": the run has no adapters to export");
  GgufMetadata meta;
  meta.emplace_back("general.architecture", GgufValue::string(arch.name));
  meta.emplace_back("general.type", GgufValue::string("adapter"));
  meta.emplace_back("general.name", GgufValue::string(name));
  meta.emplace_back("adapter.type", GgufValue::string("lora"));
  meta.emplace_back("adapter.lora.alpha", GgufValue::f32(scale * static_cast<float>(rank)));
  return write_encoded(path, meta, tensors);
}

}  // namespace trainer
