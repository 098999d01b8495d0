// `export --format gguf` and `export-adapter --format gguf` (export_gguf.h). The run is opened as
// `eval` opens it (load_run: its newest valid checkpoint pinned, a mapped base bound again) into a
// forward-only model; a full run's weights are written as they are, a lora/qlora run's merged: each
// linear weight is its frozen base decoded to fp32 (the run's own storage, or the mapped GGUF/HF
// file in its types) plus scale · B·A, summed in double. The architecture, metadata, tokenizer and
// tensor encodings come from trainer/formats/gguf_export.h. Bad input (an existing --out without
// --force, a missing folder, a model llama.cpp cannot express, a tokenizer that cannot be written,
// an adapter asked of a full run): one line, exit 2, nothing written.
#include "app/commands/export_gguf.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/train/run_loader.h"
#include "trainer/formats/gguf_export.h"
#include "trainer/quant/format.h"
#include "trainer/quant/weight_matmul.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

Status check_out(const std::string& out, bool force) {
  std::error_code ec;
  if (!force && fs::exists(out, ec))
    return Status::InvalidArgument(out + ": already exists (use --force to replace it)");
  const fs::path parent = fs::path(out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    return Status::NotFound(out + ": the folder " + parent.string() + " does not exist");
  return Status::Ok();
}

// The pretrained model a run started from ("base" of a full run, "lora"."base" of a lora/qlora
// run), or "".
std::string run_base(const trainer::CheckpointInfo& info) {
  const auto j = nlohmann::json::parse(info.run_json, nullptr, false);
  if (!j.is_object()) return "";
  if (j.contains("lora") && j["lora"].is_object() && j["lora"].contains("base") && j["lora"]["base"].is_string())
    return j["lora"]["base"].get<std::string>();
  if (j.contains("base") && j["base"].is_string()) return j["base"].get<std::string>();
  return "";
}

// The context the model was made for: the base model's (GGUF <arch>.context_length, config.json
// max_position_embeddings), else the sequence length the run trained at.
int64_t context_length(const LoadedRun& run) {
  const std::string base = run_base(run.info);
  std::error_code ec;
  if (!base.empty() && base.size() > 5 && base.compare(base.size() - 5, 5, ".gguf") == 0) {
    auto f = trainer::formats::GgufFile::open(base);
    if (f.ok()) {
      auto arch = (*f)->get_string("general.architecture");
      if (arch.ok()) {
        auto n = (*f)->get_int(*arch + ".context_length");
        if (n.ok() && *n > 0) return *n;
      }
    }
  } else if (!base.empty() && fs::is_regular_file(fs::path(base) / "config.json", ec)) {
    std::ifstream in(fs::path(base) / "config.json");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_object() && j.contains("max_position_embeddings") && j["max_position_embeddings"].is_number_integer())
      return j["max_position_embeddings"].get<int64_t>();
  }
  return run.info.shape.seq_len;
}

// The fp32 weight `name` of the run's model: a full run's own, or a lora/qlora run's merged.
Result<std::vector<float>> model_weight(const trainer::Model& model, const std::string& name,
                                        std::vector<int64_t>* shape) {
  const trainer::TensorSpec* spec = model.tensors().find_spec(name);
  if (spec == nullptr) return Status::Internal(name + ": not a weight of the run's model");
  const trainer::LoraRegistry* lora = model.lora();
  const trainer::LoraBaseEntry* base = lora != nullptr ? lora->find_base(name) : nullptr;
  if (base == nullptr) {
    if (spec->dtype != trainer::DType::kF32) return Status::Internal(name + ": not an fp32 weight");
    *shape = spec->shape;
    std::vector<float> w(static_cast<size_t>(spec->numel()));
    std::memcpy(w.data(), model.tensors().find(name), w.size() * sizeof(float));
    return w;
  }
  // A frozen linear weight (Out, In): its storage in the model may be empty (a mapped base).
  const int64_t rows = base->layout.rows, cols = base->layout.cols;
  if (rows <= 0 || cols <= 0) return Status::Internal(name + ": the frozen base has no shape");
  *shape = {rows, cols};
  std::vector<float> w(static_cast<size_t>(rows * cols));
  const trainer::quant::WeightMatrix m = base->matrix();
  if (m.rows != rows || m.cols != cols) return Status::Internal(name + ": the mapped base has another shape");
  trainer::quant::decode_matrix(m, w.data());
  const trainer::LoraAdapterEntry* a = lora->find(name.substr(0, name.size() - 7));  // drop ".weight"
  if (a == nullptr) return w;
  const trainer::LoraTensors& f = a->t;
  const double scale = lora->scale();
  const int r = lora->rank();
  for (int64_t o = 0; o < f.out; ++o)
    for (int64_t c = 0; c < f.in; ++c) {
      double acc = 0.0;
      for (int j = 0; j < r; ++j) acc += static_cast<double>(f.bt[j * f.out + o]) * f.a[j * f.in + c];
      w[o * f.in + c] += static_cast<float>(scale * acc);
    }
  return w;
}

// The architecture of the pretrained model a run started from (GGUF general.architecture, config.json
// model_type), or "" when it has none or cannot be read.
std::string base_architecture(const trainer::CheckpointInfo& info) {
  const std::string base = run_base(info);
  std::error_code ec;
  if (base.empty()) return "";
  if (fs::is_regular_file(base, ec)) {
    auto f = trainer::formats::GgufFile::open(base);
    if (!f.ok()) return "";
    auto arch = (*f)->get_string("general.architecture");
    return arch.ok() ? *arch : "";
  }
  std::ifstream in(fs::path(base) / "config.json");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  return j.is_object() && j.contains("model_type") && j["model_type"].is_string() ? j["model_type"].get<std::string>()
                                                                                  : "";
}

std::string run_name(const std::string& run_dir) {
  const fs::path p = fs::path(run_dir).lexically_normal();
  const std::string n = (p.has_filename() ? p.filename() : p.parent_path().filename()).string();
  return n.empty() ? "nightshift" : n;
}

Status export_model(const std::string& run_dir, const std::string& out, const std::string& outtype_text, bool force,
                    std::string* summary) {
  NS_ASSIGN_OR_RETURN(trainer::GgufOutType outtype, trainer::parse_gguf_outtype(outtype_text));
  NS_RETURN_IF_ERROR(check_out(out, force));
  NS_ASSIGN_OR_RETURN(LoadedRun run, load_run(run_dir));
  trainer::GgufModelInfo info;
  NS_ASSIGN_OR_RETURN(info.arch, trainer::gguf_export_architecture(run.model, run_dir, base_architecture(run.info)));
  NS_ASSIGN_OR_RETURN(info.tokenizer, trainer::gguf_tokenizer_metadata(run.tokenizer->spec(), run.model.vocab_size,
                                                                       run.tokenizer.get()));
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, load_inference_model(run, 1, 1));
  info.config = run.model;
  info.name = run_name(run_dir);
  info.context_length = context_length(run);
  info.outtype = outtype;
  const trainer::Model& m = *model;
  NS_RETURN_IF_ERROR(trainer::write_gguf_model(
      out, info, [&m](const std::string& name, std::vector<int64_t>* shape) { return model_weight(m, name, shape); }));
  const bool full = run.info.shape.mode == trainer::TrainMode::kFull;
  *summary = out + ": " + info.arch->name + " GGUF (" + trainer::gguf_outtype_name(outtype) + ") of the " +
             (full ? std::string("model")
                   : std::string("merged model (") + trainer::train_mode_name(run.info.shape.mode) +
                         " r=" + std::to_string(m.lora()->rank()) + ")") +
             " of " + run.info.dir + ", step " + std::to_string(run.info.step);
  return Status::Ok();
}

Status export_adapter(const std::string& run_dir, const std::string& out, bool force, std::string* summary) {
  NS_RETURN_IF_ERROR(check_out(out, force));
  NS_ASSIGN_OR_RETURN(LoadedRun run, load_run(run_dir));
  if (run.info.shape.mode == trainer::TrainMode::kFull)
    return Status::InvalidArgument(run_dir + ": a full fine-tuning run has no adapter to export");
  NS_ASSIGN_OR_RETURN(const trainer::Architecture* arch,
                      trainer::gguf_export_architecture(run.model, run_dir, base_architecture(run.info)));
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, load_inference_model(run, 1, 1));
  const trainer::LoraRegistry& lora = *model->lora();
  std::vector<trainer::GgufLoraMatrix> matrices;
  for (const trainer::LoraAdapterEntry& e : lora.adapters())
    matrices.push_back({e.name + ".weight", e.t.out, e.t.in, lora.rank(), e.t.a, e.t.bt});
  NS_RETURN_IF_ERROR(trainer::write_gguf_lora(out, *arch, run.model, run_name(run_dir), lora.scale(), matrices));
  *summary = out + ": " + arch->name + " LoRA adapter r=" + std::to_string(lora.rank()) +
             " alpha=" + std::to_string(lora.scale() * lora.rank()) + ", " + std::to_string(matrices.size()) +
             " matrices (step " + std::to_string(run.info.step) + " of " + run_dir +
             "); base: " + (run_base(run.info).empty() ? std::string("the run's base") : run_base(run.info));
  return Status::Ok();
}

}  // namespace

int export_gguf_model(const std::string& run_dir, const std::string& out, const std::string& outtype, bool force) {
  std::string summary;
  const Status st = export_model(run_dir, out, outtype, force, &summary);
  if (!st.ok()) return report_error(st);
  std::printf("%s\n", summary.c_str());
  return kExitOk;
}

int export_gguf_adapter(const std::string& run_dir, const std::string& out, bool force) {
  std::string summary;
  const Status st = export_adapter(run_dir, out, force, &summary);
  if (!st.ok()) return report_error(st);
  std::printf("%s\n", summary.c_str());
  return kExitOk;
}

}  // namespace app
