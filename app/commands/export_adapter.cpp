// `nightshift export-adapter RUN_DIR --out DIR`: writes the LoRA adapter of a lora/qlora run's
// latest checkpoint in the PEFT layout (DIR/adapter_model.safetensors + DIR/adapter_config.json,
// trainer/formats/peft.h), at the rank the adapters had when the checkpoint was saved. Bad input (no
// checkpoint, a full fine-tuning run, DIR already holding an adapter without --force): one line,
// exit 2, nothing written.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "app/commands/command_registry.h"
#include "app/commands/export_gguf.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/formats/peft.h"

namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

struct ExportArgs {
  std::string run_dir;
  std::string out;
  bool force = false;
  std::string format = "peft";
};

int export_main(const ExportArgs& a) {
  if (a.format == "gguf") return export_gguf_adapter(a.run_dir, a.out, a.force);
  std::error_code ec;
  if (!a.force && (fs::exists(fs::path(a.out) / "adapter_model.safetensors", ec) ||
                   fs::exists(fs::path(a.out) / "adapter_config.json", ec)))
    return report_error(Status::InvalidArgument(a.out + ": already holds an adapter (use --force to replace it)"));
  trainer::CheckpointPin pin;  // a training run pruning per --keep leaves this checkpoint alone
  auto info = trainer::read_latest_checkpoint_pinned(a.run_dir, &pin);
  if (!info.ok()) return report_error(info.status());
  if (info->shape.mode == trainer::TrainMode::kFull)
    return report_error(Status::InvalidArgument(a.run_dir + ": a full fine-tuning run has no adapter to export"));
  auto config = trainer::parse_model_config_toml(info->model_toml, info->dir + "/state.json");
  if (!config.ok()) return report_error(config.status());
  trainer::RunShape shape = info->shape;
  shape.batch = 1;
  shape.seq_len = 1;
  shape.training = false;
  auto model = trainer::Model::create(*config, shape);
  if (!model.ok()) return report_error(model.status().with_context(info->dir));
  Status st = trainer::load_checkpoint_tensors(*info, **model, /*with_optimizer=*/false);
  if (!st.ok()) return report_error(st);
  // The base a run was trained on, as the run recorded it ("base" in its run config), else the model.
  std::string base_model = config->name;
  const auto run = nlohmann::json::parse(info->run_json, nullptr, false);
  if (run.is_object() && run.contains("lora") && run["lora"].is_object() && run["lora"].contains("base") &&
      run["lora"]["base"].is_string())
    base_model = run["lora"]["base"].get<std::string>();
  st = trainer::export_peft_adapter(a.out, **model, base_model, shape.lora.base_id, info->model_toml);
  if (!st.ok()) return report_error(st);
  const trainer::LoraRegistry& lora = *(*model)->lora();
  std::printf("%s: LoRA r=%d lora_alpha=%g, %zu matrices, %lld parameters (step %lld of %s)\n", a.out.c_str(),
              lora.rank(), static_cast<double>(lora.scale()) * lora.rank(), lora.adapters().size(),
              static_cast<long long>(lora.trainable_params()), static_cast<long long>(info->step), a.run_dir.c_str());
  return kExitOk;
}

void register_export_adapter(CLI::App& root, Action& run) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* cmd = root.add_subcommand("export-adapter", "write a lora/qlora run's adapter in the PEFT layout");
  cmd->add_option("run_dir", a->run_dir, "run directory of a lora or qlora run")->required();
  cmd->add_option("--out", a->out, "directory for adapter_model.safetensors and adapter_config.json")->required();
  cmd->add_flag("--force", a->force, "replace an adapter already in --out");
  cmd->add_option("--format", a->format, "peft (default: a directory) or gguf (a llama.cpp LoRA file)")
      ->check(CLI::IsMember({"peft", "gguf"}));
  cmd->callback([&run, a] { run = [a] { return export_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_export_adapter);
}  // namespace app
