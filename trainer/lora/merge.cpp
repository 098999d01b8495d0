// merge_adapter and its checks (lora_merge.h).
#include "trainer/lora/merge.h"

#include <cstring>
#include <map>

#include "common/check.h"
#include "trainer/layout.h"

namespace trainer {

using common::Status;

namespace {

// The linear weights of a model config by module name ("blocks.0.attn.q" -> (out, in)).
common::Result<std::map<std::string, std::vector<int64_t>>> linear_modules(const ModelConfig& config) {
  RunShape s;
  s.batch = 1;
  s.seq_len = 1;
  s.training = false;
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, list_run_tensors(config, s));
  std::map<std::string, std::vector<int64_t>> out;
  for (const TensorSpec& t : specs)
    if (t.role == TensorRole::kWeight && t.linear) out[t.name.substr(0, t.name.size() - 7)] = t.shape;
  return out;
}

}  // namespace

Status check_adapter_matches_base(const PeftAdapter& adapter, const BaseInfo& base, const std::string& adapter_dir) {
  if (!adapter.base_id.empty() && !base.base_id.empty() && adapter.base_id != base.base_id)
    return Status::InvalidArgument(adapter_dir + ": the adapter was trained on base " + adapter.base_id + ", not on " +
                                   base.source + " (base " + base.base_id + ")");
  NS_ASSIGN_OR_RETURN(auto modules, linear_modules(base.config));
  for (const auto& [module, f] : adapter.modules) {
    auto it = modules.find(module);
    if (it == modules.end())
      return Status::InvalidArgument(adapter_dir + ": the adapter adapts " + module + ", which the base model '" +
                                     base.config.name + "' does not have");
    if (it->second != std::vector<int64_t>{f.out, f.in})
      return Status::InvalidArgument(adapter_dir + ": " + module + " is (" + std::to_string(f.out) + " x " +
                                     std::to_string(f.in) + ") in the adapter but (" + std::to_string(it->second[0]) +
                                     " x " + std::to_string(it->second[1]) + ") in the base");
  }
  return Status::Ok();
}

Status merge_adapter(const BaseSource& base, const PeftAdapter& adapter, const std::string& adapter_dir, Model& merged) {
  CHECK_MSG(merged.lora() == nullptr, "merge_adapter fills a full-mode model");
  NS_RETURN_IF_ERROR(check_adapter_matches_base(adapter, base.info(), adapter_dir));
  const WeightLookup lookup = base.f32_lookup();
  const TensorStore& store = merged.tensors();
  const float scale = adapter.scale();
  const int r = adapter.rank;
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const TensorSpec& t = store.specs()[i];
    if (t.role != TensorRole::kWeight) continue;
    auto src = lookup(t.name, t.shape);
    if (!src.ok()) return src.status();
    float* w = static_cast<float*>(store.data(i));
    std::memcpy(w, *src, t.bytes);
    if (!t.linear) continue;
    auto it = adapter.modules.find(t.name.substr(0, t.name.size() - 7));
    if (it == adapter.modules.end()) continue;
    const PeftFactors& f = it->second;
    // W[o][i] += scale · Σ_j B[o][j] A[j][i], accumulated in double.
    for (int64_t o = 0; o < f.out; ++o)
      for (int64_t c = 0; c < f.in; ++c) {
        double acc = 0.0;
        for (int j = 0; j < r; ++j)
          acc += static_cast<double>(f.b[static_cast<size_t>(o * r + j)]) * f.a[static_cast<size_t>(j * f.in + c)];
        w[o * f.in + c] += static_cast<float>(scale * acc);
      }
  }
  return Status::Ok();
}

}  // namespace trainer
