// `nightshift merge BASE ADAPTER --out RUN_DIR`: folds a PEFT LoRA adapter (nightshift or Hugging
// Face module names) into its base (W + lora_alpha/r · B·A) and writes a plain checkpoint into
// RUN_DIR (RUN_DIR/checkpoints/...) with a complete run config — the base run's (its data,
// tokenizer and settings) when BASE is a run or checkpoint, else the defaults with the base's
// tokenizer and no data — so eval, sample, chat, export, quantize and --base accept it. BASE is a
// base file, a full checkpoint or a pretrained model. Bad input (an adapter of another base or
// shape, a damaged file, RUN_DIR already holding a checkpoint): one line, exit 2, nothing written.
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/commands/command_registry.h"
#include "app/train/run_config.h"
#include "trainer/formats/checkpoint.h"
#include "trainer/lora/merge.h"

namespace app {
namespace {

using common::Status;

struct MergeArgs {
  std::string base;
  std::string adapter;
  std::string out;
};

// The run config of the merged run: the base run's when BASE is a run or checkpoint directory.
std::string merged_run_json(const MergeArgs& a, const trainer::BaseSource& base) {
  RunConfig c = default_run_config();
  if (base.is_checkpoint()) {
    auto info = trainer::has_checkpoint(a.base) ? trainer::read_latest_checkpoint(a.base) : trainer::read_checkpoint_dir(a.base);
    if (info.ok()) {
      auto run = run_config_from_json(info->run_json, info->dir + "/state.json");
      if (run.ok()) c = *run;
    }
  }
  c.model = base.info().config;
  c.model_source = "merge:" + a.base;
  if (!base.info().tokenizer.empty()) c.tokenizer = base.info().tokenizer;
  c.out_dir = a.out;
  nlohmann::json j = nlohmann::json::parse(run_config_to_json(c));
  j["merged_from"] = {{"base", a.base}, {"adapter", a.adapter}};
  return j.dump();
}

int merge_main(const MergeArgs& a) {
  if (trainer::has_checkpoint(a.out))
    return report_error(Status::InvalidArgument(a.out + ": already holds a checkpoint; choose another --out"));
  auto base = trainer::BaseSource::open(a.base);
  if (!base.ok()) return report_error(base.status());
  const trainer::ImportedModel* imported = (*base)->imported();
  auto adapter = trainer::read_peft_adapter(a.adapter, &(*base)->info().config,
                                            imported ? &imported->architecture() : nullptr);
  if (!adapter.ok()) return report_error(adapter.status());
  Status st = trainer::check_adapter_matches_base(*adapter, (*base)->info(), a.adapter);
  if (!st.ok()) return report_error(st);
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = 1;
  shape.training = false;
  auto model = trainer::Model::create((*base)->info().config, shape);
  if (!model.ok()) return report_error(model.status());
  st = trainer::merge_adapter(**base, *adapter, a.adapter, **model);
  if (!st.ok()) return report_error(st);
  trainer::CheckpointInfo info;
  info.step = 0;
  info.shape = shape;
  info.model_toml = (*base)->info().model_toml;
  info.tokenizer_spec = (*base)->info().tokenizer;
  info.run_json = merged_run_json(a, **base);
  st = trainer::save_checkpoint(a.out, **model, info, /*keep_last=*/1);
  if (!st.ok()) return report_error(st);
  std::printf("%s: %s + LoRA r=%d (scale %.4g, %zu matrices) merged into a %s checkpoint\n", a.out.c_str(),
              a.base.c_str(), adapter->rank, adapter->scale(), adapter->modules.size(),
              (*base)->info().config.name.c_str());
  return kExitOk;
}

void register_merge(CLI::App& root, Action& run) {
  auto a = std::make_shared<MergeArgs>();
  CLI::App* cmd = root.add_subcommand("merge", "fold a LoRA adapter into its base and write a plain checkpoint");
  cmd->add_option("base", a->base, "base file (nightshift quantize) or full checkpoint / run directory")->required();
  cmd->add_option("adapter", a->adapter, "PEFT adapter directory (nightshift export-adapter)")->required();
  cmd->add_option("--out", a->out, "run directory to write the merged checkpoint into")->required();
  cmd->callback([&run, a] { run = [a] { return merge_main(*a); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_merge);
}  // namespace app
