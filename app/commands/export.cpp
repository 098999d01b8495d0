// `nightshift export RUN_DIR --out FILE.safetensors [--adapter] [--force]`: writes the weights of a
// run's newest valid checkpoint as one safetensors file (names per docs/model.md). A full run gives
// its model; a lora/qlora run gives the merged model (the frozen base as the run stored it, decoded
// to fp32, plus scale · B·A, the same arithmetic as trainer/lora/merge.h), or with --adapter only
// the adapter tensors in PEFT naming (the adapter_model.safetensors of `export-adapter`). The file is
// written atomically. Bad input (no valid checkpoint, --adapter on a full run, FILE already there
// without --force): one line naming the file, exit 2, nothing written.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/commands/export_gguf.h"
#include "common/atomic_file.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/model_config_toml.h"
#include "trainer/formats/peft.h"
#include "trainer/quant/format.h"
#include "trainer/formats/safetensors.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

struct ExportArgs {
  std::string run_dir;
  std::string out;
  bool adapter = false;
  bool force = false;
  std::string format = "safetensors";
  std::string outtype = "f32";
};

// A model of the checkpoint's kind (batch 1, seq 1) with its weights loaded; it only holds tensors.
// A lora/qlora model is built with a training shape, which adds only the adapters' gradients and
// moments: a forward-only lora model cannot be built at present (its adapters get no backward
// scratch, which Linear::with_adapter requires).
Result<std::unique_ptr<trainer::Model>> load_checkpoint_model(const trainer::CheckpointInfo& info,
                                                              const trainer::ModelConfig& config) {
  trainer::RunShape shape = info.shape;
  shape.batch = 1;
  shape.seq_len = 1;
  shape.training = info.shape.mode != trainer::TrainMode::kFull;
  shape.grad_checkpoint = false;
  auto model = trainer::Model::create(config, shape);
  if (!model.ok()) return model.status().with_context(info.dir);
  NS_RETURN_IF_ERROR(trainer::load_checkpoint_tensors(info, **model, /*with_optimizer=*/false));
  return std::move(*model);
}

// Fills the fp32 weights of `merged` (full mode, same config) from a lora/qlora model: each linear
// weight is its frozen base decoded to fp32 plus scale · B·A where adapted (accumulated in double, as
// trainer/lora/merge.cpp does, so both give the same bits); other weights are copied.
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
      trainer::dequantize(trainer::QuantView{base->layout, base->bytes}, w);
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

Status write_weights(const std::string& out, const trainer::Model& model, const trainer::CheckpointInfo& info,
                     const std::string& kind) {
  const trainer::TensorStore& store = model.tensors();
  std::vector<trainer::TensorRef> refs;
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const trainer::TensorSpec& s = store.specs()[i];
    if (s.role == trainer::TensorRole::kWeight) refs.push_back({s.name, s.dtype, s.shape, store.data(i), s.bytes});
  }
  const std::map<std::string, std::string> meta{{"format", "pt"},
                                                {"nightshift.kind", kind},
                                                {"nightshift.step", std::to_string(info.step)},
                                                {"nightshift.model_toml", info.model_toml},
                                                {"nightshift.tokenizer", info.tokenizer_spec}};
  return trainer::write_safetensors(out, refs, meta);  // temporary file, fsync, rename, fsync of the folder
}

// The adapter alone: export_peft_adapter into a private folder beside `out`, then its
// adapter_model.safetensors renamed to `out` (same file system, so the rename is atomic).
Status write_adapter(const std::string& out, const trainer::Model& model, const trainer::CheckpointInfo& info,
                     const std::string& base_model) {
  const fs::path tmp = fs::path(out).parent_path() / (".export-" + std::to_string(::getpid()) + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  Status st = trainer::export_peft_adapter(tmp.string(), model, base_model, model.shape().lora.base_id,
                                           info.model_toml);
  if (st.ok() && ::rename((tmp / "adapter_model.safetensors").c_str(), out.c_str()) != 0)
    st = Status::IOError(out + ": cannot rename into place: " + std::strerror(errno));
  if (st.ok()) st = common::fsync_parent_dir(out);
  fs::remove_all(tmp, ec);
  return st;
}

int export_main(const ExportArgs& a) {
  if (a.format == "gguf") return export_gguf_model(a.run_dir, a.out, a.outtype, a.force);
  std::error_code ec;
  if (!a.force && fs::exists(a.out, ec))
    return report_error(Status::InvalidArgument(a.out + ": already exists (use --force to replace it)"));
  const fs::path parent = fs::path(a.out).parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec))
    return report_error(Status::NotFound(a.out + ": the folder " + parent.string() + " does not exist"));
  trainer::CheckpointPin pin;  // a training run pruning per --keep leaves this checkpoint alone
  auto info = trainer::read_latest_checkpoint_pinned(a.run_dir, &pin);
  if (!info.ok()) return report_error(info.status());
  const bool full = info->shape.mode == trainer::TrainMode::kFull;
  if (a.adapter && full)
    return report_error(Status::InvalidArgument(a.run_dir + ": a full fine-tuning run has no adapter (drop --adapter)"));
  auto config = trainer::parse_model_config_toml(info->model_toml, info->dir + "/state.json");
  if (!config.ok()) return report_error(config.status());
  auto model = load_checkpoint_model(*info, *config);
  if (!model.ok()) return report_error(model.status());

  std::string what;
  Status st;
  if (full) {
    what = "model";
    st = write_weights(a.out, **model, *info, "model");
  } else if (a.adapter) {
    what = "LoRA adapter r=" + std::to_string((*model)->lora()->rank());
    st = write_adapter(a.out, **model, *info, config->name);
  } else {
    trainer::RunShape shape;
    shape.batch = 1;
    shape.seq_len = 1;
    shape.training = false;
    auto merged = trainer::Model::create(*config, shape);
    if (!merged.ok()) return report_error(merged.status().with_context(info->dir));
    st = merge_into(**model, **merged);
    what = std::string("merged model (") + trainer::train_mode_name(info->shape.mode) + " r=" +
           std::to_string((*model)->lora()->rank()) + ")";
    if (st.ok()) st = write_weights(a.out, **merged, *info, "merged");
  }
  if (!st.ok()) return report_error(st);
  std::printf("%s: %s of %s, step %lld\n", a.out.c_str(), what.c_str(), info->dir.c_str(),
              static_cast<long long>(info->step));
  return kExitOk;
}

void register_export(CLI::App& root, Action& run) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = root.add_subcommand("export", "write the newest weights of a run as one safetensors file");
  cmd->add_option("run_dir", a->run_dir, "run directory")->required();
  cmd->add_option("--out", a->out, "the safetensors file to write")->required();
  cmd->add_flag("--adapter", a->adapter, "lora/qlora runs: only the adapter tensors (PEFT names), not the merged model");
  cmd->add_flag("--force", a->force, "replace --out if it exists");
  cmd->add_option("--format", a->format, "safetensors (default) or gguf (llama.cpp, ollama, LM Studio)")
      ->check(CLI::IsMember({"safetensors", "gguf"}));
  cmd->add_option("--outtype", a->outtype, "gguf: f32 (default), f16, bf16, q8_0, q4_0 or q4_k_m");
  cmd->callback([&run, a] { run = [a] { return export_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_export);
}  // namespace app
