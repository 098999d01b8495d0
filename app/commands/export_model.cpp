// The model a run exports: checkpoint, merge and base name (export_model.h).
#include "app/commands/export_model.h"

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "trainer/arch/hf_config.h"
#include "trainer/arch/imported_model.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/lora/registry.h"
#include "trainer/quant/format.h"
#include "trainer/quant/weight_matmul.h"

namespace app {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

namespace {

// The base a run config names: lora.base, base (a full fine-tune of a base) or merged_from.base.
std::string base_named_by(const std::string& run_json) {
  const auto j = nlohmann::json::parse(run_json, nullptr, false);
  if (!j.is_object()) return "";
  for (const char* outer : {"lora", "merged_from"})
    if (j.contains(outer) && j[outer].is_object() && j[outer].contains("base") && j[outer]["base"].is_string())
      return j[outer]["base"].get<std::string>();
  if (j.contains("base") && j["base"].is_string()) return j["base"].get<std::string>();
  return "";
}

// Follows bases (a run trained on a run trained on a GGUF, ...) to the pretrained model at the root.
void find_architecture(ExportSource* src) {
  std::string path = src->base_path;
  for (int depth = 0; depth < 8 && !path.empty(); ++depth) {
    if (trainer::ImportedModel::is_importable(path)) {
      auto m = trainer::ImportedModel::open(path);
      if (!m.ok()) return;
      src->arch = &(*m)->architecture();
      if (std::string((*m)->format()) == "hf") {
        auto hf = trainer::HfConfig::load((fs::path(path) / "config.json").string());
        if (hf.ok()) {
          auto type = hf->get_string({"model_type"});
          if (type.ok() && type->has_value()) src->model_type = **type;
        }
      }
      return;
    }
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return;  // a base file (nightshift quantize): nightshift's own model
    auto info =
        trainer::has_checkpoint(path) ? trainer::read_latest_checkpoint(path) : trainer::read_checkpoint_dir(path);
    if (!info.ok()) return;
    path = base_named_by(info->run_json);
  }
}

}  // namespace

Result<ExportSource> open_export_source(const std::string& run_dir) {
  ExportSource src;
  NS_ASSIGN_OR_RETURN(src.run, load_run(run_dir));
  NS_ASSIGN_OR_RETURN(src.checkpoint, load_inference_model(src.run, 1, 1));
  src.base_path = base_named_by(src.run.info.run_json);
  find_architecture(&src);
  return src;
}

Status merge_into(const trainer::Model& lora_model, trainer::Model& merged) {
  const trainer::LoraRegistry& lora = *lora_model.lora();
  const trainer::TensorStore& store = merged.tensors();
  const float scale = lora.scale();
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const trainer::TensorSpec& t = store.specs()[i];
    if (t.role != trainer::TensorRole::kWeight) continue;
    float* w = static_cast<float*>(store.data(i));
    if (const trainer::LoraBaseEntry* base = lora.find_base(t.name)) {
      if (base->layout.n() * 4 != static_cast<int64_t>(t.bytes))
        return Status::Internal(t.name + ": the frozen base and the merged model disagree in size");
      // In the run's base format, or (mapped) in its file's encoding (GGUF types, F16/BF16, Q4_K on load).
      trainer::quant::decode_matrix(base->matrix(), w);
    } else {
      const trainer::TensorSpec* src = lora_model.tensors().find_spec(t.name);
      if (src == nullptr || src->dtype != t.dtype || src->shape != t.shape)
        return Status::Internal(t.name + ": missing from the lora model or of another shape");
      std::memcpy(w, lora_model.tensors().find(t.name), t.bytes);
    }
    if (!t.linear) continue;
    const trainer::LoraAdapterEntry* a = lora.find(t.name.substr(0, t.name.size() - 7));
    if (a == nullptr) continue;
    const trainer::LoraTensors& f = a->t;
    const int r = lora.rank();
    // W[o][c] += scale · Σ_j B[o][j] A[j][c], with B[o][j] = Bt[j][o].
    for (int64_t o = 0; o < f.out; ++o)
      for (int64_t c = 0; c < f.in; ++c) {
        double acc = 0.0;
        for (int j = 0; j < r; ++j) acc += static_cast<double>(f.bt[j * f.out + o]) * f.a[j * f.in + c];
        w[o * f.in + c] += static_cast<float>(scale * acc);
      }
  }
  return Status::Ok();
}

Result<std::unique_ptr<trainer::Model>> merged_model(const ExportSource& src) {
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = 1;
  shape.training = false;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> merged, trainer::Model::create(src.run.model, shape));
  if (src.full()) {
    const trainer::TensorStore& store = merged->tensors();
    for (size_t i = 0; i < store.specs().size(); ++i) {
      const trainer::TensorSpec& t = store.specs()[i];
      if (t.role != trainer::TensorRole::kWeight) continue;
      const trainer::TensorSpec* s = src.checkpoint->tensors().find_spec(t.name);
      if (s == nullptr || s->bytes != t.bytes)
        return Status::Internal(t.name + ": missing from the checkpoint's model");
      std::memcpy(store.data(i), src.checkpoint->tensors().find(t.name), t.bytes);
    }
    return merged;
  }
  NS_RETURN_IF_ERROR(merge_into(*src.checkpoint, *merged).with_context(src.run.info.dir));
  return merged;
}

std::string base_model_name(const ExportSource& src) {
  if (src.base_path.empty()) return src.run.model.name;
  std::error_code ec;
  fs::path p = fs::path(src.base_path);
  if (fs::is_directory(p, ec)) {
    auto text = common::read_file((p / "config.json").string());
    if (text.ok()) {
      const auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object() && j.contains("_name_or_path") && j["_name_or_path"].is_string() &&
          !j["_name_or_path"].get<std::string>().empty())
        return j["_name_or_path"].get<std::string>();
    }
    p = fs::absolute(p, ec).lexically_normal();
    if (!p.has_filename()) p = p.parent_path();
    return p.filename().string();
  }
  return p.stem().string();
}

}  // namespace app
