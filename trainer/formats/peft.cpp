// PEFT adapter export and import (peft.h).
#include "trainer/formats/peft.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <map>
#include <set>

#include "common/atomic_file.h"
#include "trainer/lora/plan.h"
#include "trainer/quant/format.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using nlohmann::json;

namespace {

constexpr const char* kPrefix = "base_model.model.";
constexpr const char* kSuffixA = ".lora_A.weight";
constexpr const char* kSuffixB = ".lora_B.weight";

// Copies a 2-D tensor of F32/F16/BF16 into floats.
std::vector<float> to_floats(const SafetensorsFile::Entry& e) {
  const int64_t n = e.shape.size() == 2 ? e.shape[0] * e.shape[1] : 0;
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    if (e.dtype == DType::kF32) {
      std::memcpy(&out[static_cast<size_t>(i)], e.data + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, e.data + 2 * i, 2);
      out[static_cast<size_t>(i)] = e.dtype == DType::kF16 ? f16_to_f32(h) : bf16_to_f32(h);
    }
  }
  return out;
}

}  // namespace

Status export_peft_adapter(const std::string& dir, const Model& model, const std::string& base_model,
                           const std::string& base_id, const std::string& model_toml, const HfLayout* hf) {
  const LoraRegistry* lora = model.lora();
  if (lora == nullptr || lora->adapters().empty())
    return Status::InvalidArgument("the model has no LoRA adapters to export");
  // HF names for a model of an HF architecture; nightshift's own presets keep nightshift's names.
  const bool hf_names = hf != nullptr && hf->arch != nullptr && hf->imported;
  // The module path an adapter is stored under, and its target_modules entry.
  auto module_of = [&](const std::string& ours) -> Result<std::string> {
    if (!hf_names) return ours;
    auto it = hf->hf_names.find(ours + ".weight");
    if (it == hf->hf_names.end())
      return Status::Internal(ours + ".weight has no name in the " + hf->model_type + " layout");
    return hf_module_of(it->second);
  };
  const int r = lora->rank();
  std::vector<std::vector<float>> storage;
  storage.reserve(2 * lora->adapters().size());
  std::vector<TensorRef> refs;
  std::set<std::string> targets;
  // Adapters of the blocks of one fused HF Linear (Granite's input_linear: gate and up) are written
  // as one adapter of rank blocks·r: A stacks the blocks' A, B is block-diagonal, and rank_pattern /
  // alpha_pattern keep PEFT's scale alpha / r. A tensor holding every expert is no Linear PEFT adapts.
  struct Fused {
    const TensorMapping* mapping = nullptr;
    std::vector<const LoraTensors*> blocks;
  };
  std::map<std::string, Fused> fused;  // by HF module
  for (const LoraAdapterEntry& e : lora->adapters()) {
    const LoraTensors& t = e.t;
    NS_ASSIGN_OR_RETURN(const std::string module, module_of(e.name));
    const auto part = hf_names ? hf->fused.find(e.name + ".weight") : std::map<std::string, TensorMapping>::const_iterator{};
    if (hf_names && part != hf->fused.end()) {
      const TensorMapping& m = part->second;
      if (m.whole.size() > 2)
        return Status::InvalidArgument(e.name + ": its Hugging Face tensor " + m.theirs.front() +
                                       " holds every expert in one parameter, which PEFT cannot adapt (export the "
                                       "merged model with export --format hf, or the adapter with --format gguf)");
      Fused& f = fused[module];
      f.mapping = &m;
      f.blocks.resize(static_cast<size_t>(m.slices), nullptr);
      f.blocks[static_cast<size_t>(m.slice)] = &t;
      continue;
    }
    targets.insert(hf_names ? hf_leaf_of(module) : lora_target_key(e.name + ".weight"));
    storage.emplace_back(t.a, t.a + int64_t{r} * t.in);
    refs.push_back({kPrefix + module + kSuffixA, DType::kF32, {r, t.in}, storage.back().data(), storage.back().size() * 4});
    std::vector<float> b(static_cast<size_t>(t.out * r));
    for (int64_t o = 0; o < t.out; ++o)
      for (int j = 0; j < r; ++j) b[static_cast<size_t>(o * r + j)] = t.bt[j * t.out + o];
    storage.push_back(std::move(b));
    refs.push_back({kPrefix + module + kSuffixB, DType::kF32, {t.out, r}, storage.back().data(), storage.back().size() * 4});
  }
  // PEFT computes scaling = lora_alpha / r: lora_alpha = scale · r reproduces our scale exactly
  // (computed in double; integral values are written as integers, PEFT's own type).
  const double alpha = static_cast<double>(lora->scale()) * r;
  auto number = [](double v) { return v == std::floor(v) && std::fabs(v) < 1e15 ? json(static_cast<int64_t>(v)) : json(v); };
  json rank_pattern = json::object(), alpha_pattern = json::object();
  for (const auto& [module, f] : fused) {
    const int n = static_cast<int>(f.blocks.size());
    int64_t in = 0, out = 0;  // out: rows of one block
    for (const LoraTensors* t : f.blocks)
      if (t != nullptr) in = t->in, out = t->out;
    const int R = n * r;
    std::vector<float> a(static_cast<size_t>(R * in), 0.0f), b(static_cast<size_t>(n * out * R), 0.0f);
    for (int j = 0; j < n; ++j) {
      const LoraTensors* t = f.blocks[static_cast<size_t>(j)];
      if (t == nullptr) continue;  // a block not adapted: zero rows of A, zero columns of B
      std::copy_n(t->a, int64_t{r} * in, a.begin() + static_cast<int64_t>(j) * r * in);
      for (int64_t o = 0; o < out; ++o)
        for (int c = 0; c < r; ++c)
          b[static_cast<size_t>((j * out + o) * R + j * r + c)] = t->bt[static_cast<int64_t>(c) * out + o];
    }
    storage.push_back(std::move(a));
    refs.push_back({kPrefix + module + kSuffixA, DType::kF32, {R, in}, storage.back().data(), storage.back().size() * 4});
    storage.push_back(std::move(b));
    refs.push_back({kPrefix + module + kSuffixB, DType::kF32, {n * out, R}, storage.back().data(), storage.back().size() * 4});
    targets.insert(hf_leaf_of(module));
    rank_pattern[module] = R;
    alpha_pattern[module] = number(alpha * n);
  }
  json config{{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"r", r},
              {"target_modules", std::vector<std::string>(targets.begin(), targets.end())},
              {"lora_dropout", 0.0},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"init_lora_weights", true},
              {"inference_mode", true},
              {"modules_to_save", nullptr},
              {"layers_to_transform", nullptr},
              {"layers_pattern", nullptr},
              {"rank_pattern", rank_pattern},
              {"alpha_pattern", alpha_pattern},
              {"use_rslora", false},
              {"use_dora", false},
              {"revision", nullptr},
              {"base_model_name_or_path", base_model}};
  config["lora_alpha"] = number(alpha);
  if (!hf_names)
    config["nightshift_layout"] = "module names are nightshift's weight names (blocks.N...): the model is nightshift's "
                                  "own ('" + model.config().name + "'), not one of a Hugging Face architecture";

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(dir + ": cannot create directory: " + ec.message());
  const std::map<std::string, std::string> meta{
      {"format", "pt"}, {"nightshift.base_id", base_id}, {"nightshift.model_toml", model_toml}};
  NS_RETURN_IF_ERROR(write_safetensors(dir + "/adapter_model.safetensors", refs, meta));
  return common::write_file_atomic(dir + "/adapter_config.json", config.dump(2) + "\n");
}

namespace {

// Renames modules stored under Hugging Face module paths to nightshift's through the base's layout.
Status rename_hf_modules(PeftAdapter* a, const ModelConfig& base, const Architecture* arch,
                         const std::string& weights_path) {
  bool any_hf = false;
  for (const auto& [module, f] : a->modules) any_hf = any_hf || !module.starts_with("blocks.");
  if (!any_hf) return Status::Ok();
  const HfLayout hf = hf_layout_of(base, arch);
  if (hf.arch == nullptr)
    return Status::InvalidArgument(weights_path + ": the adapter uses Hugging Face module names, but the base " + hf.why_not);
  std::map<std::string, std::string> ours_of;  // HF module -> our module
  std::set<std::string> fused;                  // HF modules that hold several of ours
  for (const auto& [ours, theirs] : hf.hf_names) {
    if (ours.ends_with(".weight")) ours_of[hf_module_of(theirs)] = ours.substr(0, ours.size() - 7);
    if (hf.fused.count(ours)) fused.insert(hf_module_of(theirs));
  }
  std::map<std::string, PeftFactors> renamed;
  for (auto& [module, f] : a->modules) {
    if (fused.count(module))
      return Status::InvalidArgument(weights_path + ": the adapter adapts " + module +
                                     ", which fuses several of nightshift's weights: reading such an adapter back "
                                     "is not supported (start from the run directory instead)");
    auto it = ours_of.find(module);
    if (it == ours_of.end())
      return Status::InvalidArgument(weights_path + ": the adapter adapts " + module + ", which the base model '" +
                                     base.name + "' (Hugging Face " + hf.model_type + " layout) does not have");
    renamed[it->second] = std::move(f);
  }
  a->modules = std::move(renamed);
  return Status::Ok();
}

}  // namespace

Result<PeftAdapter> read_peft_adapter(const std::string& dir, const ModelConfig* base, const Architecture* arch) {
  const std::string config_path = dir + "/adapter_config.json";
  const std::string weights_path = dir + "/adapter_model.safetensors";
  NS_ASSIGN_OR_RETURN(std::string text, common::read_file(config_path));
  const json c = json::parse(text, nullptr, false);
  if (c.is_discarded() || !c.is_object()) return Status::Corruption(config_path + ": not valid JSON");
  PeftAdapter a;
  if (c.value("peft_type", "") != "LORA")
    return Status::InvalidArgument(config_path + ": peft_type is '" + c.value("peft_type", "") + "', expected 'LORA'");
  if (!c.contains("r") || !c["r"].is_number_integer() || c["r"].get<int64_t>() < 1)
    return Status::InvalidArgument(config_path + ": 'r' must be a positive integer");
  if (!c.contains("lora_alpha") || !c["lora_alpha"].is_number() || !(c["lora_alpha"].get<double>() > 0))
    return Status::InvalidArgument(config_path + ": 'lora_alpha' must be a positive number");
  a.rank = c["r"].get<int>();
  a.lora_alpha = c["lora_alpha"].get<double>();
  if (!c.contains("target_modules") || !c["target_modules"].is_array())
    return Status::InvalidArgument(config_path + ": 'target_modules' must be a list of module names");
  for (const json& t : c["target_modules"]) {
    if (!t.is_string()) return Status::InvalidArgument(config_path + ": 'target_modules' must hold strings");
    a.target_modules.push_back(t.get<std::string>());
  }
  if (c.contains("base_model_name_or_path") && c["base_model_name_or_path"].is_string())
    a.base_model = c["base_model_name_or_path"].get<std::string>();
  if (c.value("use_dora", false) || c.value("use_rslora", false))
    return Status::InvalidArgument(config_path + ": DoRA and rsLoRA adapters are not supported");

  NS_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(weights_path));
  auto it = file->metadata().find("nightshift.base_id");
  if (it != file->metadata().end()) a.base_id = it->second;
  it = file->metadata().find("nightshift.model_toml");
  if (it != file->metadata().end()) a.model_toml = it->second;
  for (const auto& [name, e] : file->tensors()) {
    const bool is_a = name.ends_with(kSuffixA), is_b = name.ends_with(kSuffixB);
    if (!name.starts_with(kPrefix) || !(is_a || is_b))
      return Status::InvalidArgument(weights_path + ": unexpected tensor '" + name +
                                     "' (expected base_model.model.<module>.lora_A.weight / lora_B.weight)");
    if (e.dtype != DType::kF32 && e.dtype != DType::kF16 && e.dtype != DType::kBF16)
      return Status::InvalidArgument(weights_path + ": " + name + " has dtype " + dtype_name(e.dtype));
    if (e.shape.size() != 2) return Status::InvalidArgument(weights_path + ": " + name + " is not a matrix");
    const std::string module = name.substr(std::strlen(kPrefix), name.size() - std::strlen(kPrefix) - std::strlen(kSuffixA));
    PeftFactors& f = a.modules[module];
    if (is_a) {
      if (e.shape[0] != a.rank)
        return Status::InvalidArgument(weights_path + ": " + name + " has " + std::to_string(e.shape[0]) +
                                       " rows, but r is " + std::to_string(a.rank));
      f.in = e.shape[1];
      f.a = to_floats(e);
    } else {
      if (e.shape[1] != a.rank)
        return Status::InvalidArgument(weights_path + ": " + name + " has " + std::to_string(e.shape[1]) +
                                       " columns, but r is " + std::to_string(a.rank));
      f.out = e.shape[0];
      f.b = to_floats(e);
    }
  }
  if (a.modules.empty()) return Status::InvalidArgument(weights_path + ": holds no LoRA weights");
  for (const auto& [module, f] : a.modules)
    if (f.a.empty() || f.b.empty())
      return Status::InvalidArgument(weights_path + ": " + module + " has lora_" + (f.a.empty() ? "B" : "A") +
                                     " but no lora_" + (f.a.empty() ? "A" : "B"));
  if (base != nullptr) NS_RETURN_IF_ERROR(rename_hf_modules(&a, *base, arch, weights_path));
  return a;
}

Status load_peft_adapter(const PeftAdapter& adapter, Model& model, const std::string& dir) {
  LoraRegistry* lora = model.lora();
  if (lora == nullptr) return Status::InvalidArgument(dir + ": an adapter needs a lora or qlora run");
  if (std::fabs(lora->scale() - adapter.scale()) > 1e-6f * std::fabs(adapter.scale()))
    return Status::InvalidArgument(dir + ": the adapter's scale lora_alpha/r = " + std::to_string(adapter.scale()) +
                                   " differs from the run's " + std::to_string(lora->scale()));
  std::set<std::string> used;
  for (const LoraAdapterEntry& e : lora->adapters()) {
    auto it = adapter.modules.find(e.name);
    if (it == adapter.modules.end())
      return Status::InvalidArgument(dir + ": the adapter has no weights for " + e.name);
    if (it->second.in != e.t.in || it->second.out != e.t.out)
      return Status::InvalidArgument(dir + ": " + e.name + " is (" + std::to_string(it->second.out) + " x " +
                                     std::to_string(it->second.in) + ") in the adapter but (" + std::to_string(e.t.out) +
                                     " x " + std::to_string(e.t.in) + ") in the model: the adapter belongs to another base");
    used.insert(e.name);
  }
  for (const auto& [module, f] : adapter.modules)
    if (!used.count(module))
      return Status::InvalidArgument(dir + ": the adapter holds " + module + ", which this model does not adapt");
  NS_RETURN_IF_ERROR(lora->restore_rank(adapter.rank).with_context(dir));
  const int r = adapter.rank;
  for (LoraAdapterEntry& e : lora->adapters()) {
    LoraTensors& t = e.t;
    const PeftFactors& f = adapter.modules.at(e.name);
    for (float* p : {t.a, t.m_a, t.v_a, t.grad_a})
      if (p) std::memset(p, 0, sizeof(float) * static_cast<size_t>(t.a_capacity()));
    for (float* p : {t.bt, t.m_bt, t.v_bt, t.grad_bt})
      if (p) std::memset(p, 0, sizeof(float) * static_cast<size_t>(t.bt_capacity()));
    std::memcpy(t.a, f.a.data(), sizeof(float) * f.a.size());
    for (int64_t o = 0; o < t.out; ++o)
      for (int j = 0; j < r; ++j) t.bt[j * t.out + o] = f.b[static_cast<size_t>(o * r + j)];
  }
  return Status::Ok();
}

}  // namespace trainer
