// `nightshift export-adapter RUN_DIR --out PATH [--format peft|gguf] [--base-name NAME] [--force]`:
// the LoRA adapter of a lora/qlora run's latest checkpoint, at the rank the adapters had when it was
// saved:
//   peft (the default)  DIR/adapter_model.safetensors + DIR/adapter_config.json in PEFT's layout
//                       (trainer/formats/peft.h): Hugging Face module names and target_modules for a
//                       model of an HF architecture (an imported llama, qwen2, qwen3, mamba),
//                       base_model_name_or_path the base's id (its config.json _name_or_path, else
//                       its directory name) or --base-name; nightshift's names for its own presets
//   gguf                a GGUF LoRA adapter for llama.cpp (app/commands/export_gguf.h)
// Bad input (no checkpoint, a full fine-tuning run, DIR already holding an adapter without --force):
// one line, exit 2, nothing written.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/commands/command_registry.h"
#include "app/commands/export_gguf.h"
#include "app/commands/export_model.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/formats/peft.h"


namespace app {
namespace {

namespace fs = std::filesystem;
using common::Status;

struct AdapterExportArgs {
  std::string run_dir;
  std::string out;
  std::string format = "peft";
  std::string base_name;
  bool force = false;
};

int export_peft(const AdapterExportArgs& a) {
  std::error_code ec;
  if (!a.force && (fs::exists(fs::path(a.out) / "adapter_model.safetensors", ec) ||
                   fs::exists(fs::path(a.out) / "adapter_config.json", ec)))
    return report_error(Status::InvalidArgument(a.out + ": already holds an adapter (use --force to replace it)"));
  auto src = open_export_source(a.run_dir);
  if (!src.ok()) return report_error(src.status());
  if (src->full())
    return report_error(Status::InvalidArgument(a.run_dir + ": a full fine-tuning run has no adapter to export"));
  const trainer::HfLayout hf = src->hf_layout();
  const std::string base_name = a.base_name.empty() ? base_model_name(*src) : a.base_name;
  Status st = trainer::export_peft_adapter(a.out, *src->checkpoint, base_name, src->run.info.shape.lora.base_id,
                                           src->run.info.model_toml, &hf);
  if (!st.ok()) return report_error(st);
  const trainer::LoraRegistry& lora = *src->checkpoint->lora();
  const bool hf_names = hf.arch != nullptr && hf.imported;
  std::printf("%s: LoRA r=%d lora_alpha=%g, %zu matrices, %lld parameters (step %lld of %s), %s names, base %s\n",
              a.out.c_str(), lora.rank(), static_cast<double>(lora.scale()) * lora.rank(), lora.adapters().size(),
              static_cast<long long>(lora.trainable_params()), static_cast<long long>(src->run.info.step),
              a.run_dir.c_str(), hf_names ? ("Hugging Face " + hf.model_type).c_str() : "nightshift",
              base_name.c_str());
  return kExitOk;
}


int export_adapter_main(const AdapterExportArgs& a) {
  if (a.format == "peft") return export_peft(a);
  if (a.format == "gguf") return export_gguf_adapter(a.run_dir, a.out, a.force);
  if (a.format == "hf" || a.format == "safetensors")
    return report_error(Status::InvalidArgument("--format " + a.format +
                                                ": an adapter is written as peft or gguf; "
                                                "the merged model by nightshift export RUN --format " +
                                                a.format));
  return report_error(Status::InvalidArgument("--format: unknown format '" + a.format + "' (known: peft, gguf)"));
}

void register_export_adapter(CLI::App& root, Action& run) {
  auto a = std::make_shared<AdapterExportArgs>();
  CLI::App* cmd = root.add_subcommand("export-adapter", "write a lora/qlora run's adapter for PEFT or llama.cpp");
  cmd->add_option("run_dir", a->run_dir, "run directory of a lora or qlora run")->required();
  cmd->add_option("--out", a->out,
                  "peft: directory for adapter_model.safetensors and adapter_config.json; gguf: the file")
      ->required();
  cmd->add_option("--format", a->format, "peft (default: PEFT adapter directory) | gguf (llama.cpp LoRA adapter)");
  cmd->add_option("--base-name", a->base_name, "peft: base_model_name_or_path (default: the base's model id)");
  cmd->add_flag("--force", a->force, "replace an adapter already in --out");
  cmd->callback([&run, a] { run = [a] { return export_adapter_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_export_adapter);
}  // namespace app
