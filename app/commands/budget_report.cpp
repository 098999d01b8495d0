// `nightshift budget-report` (also installed as `budget-report`): plans a run's memory on a device
// profile and prints the itemized report as text (80 columns), markdown or JSON. Pure planning:
// nothing is allocated or trained. Its defaults (model, tokenizer, sequence length, micro-batch)
// are train's, read from default_run_config(); the vocabulary comes from --tokenizer as in train.
// Exit codes as train: 3 when the selected run does not fit (after the report), 2 for unknown
// profile/model, malformed files and absurd numbers (one line saying what is wrong).
// --model may name a pretrained model (a .gguf file or a Hugging Face directory): its config is
// planned, with its own tokenizer's vocabulary unless --tokenizer is given; the report is headed
// by the parameters counted from the file's tensors (JSON: "imported"). A config.json alone is enough
// (people plan before they download): its architecture's config, with the vocabulary of a
// tokenizer.json / tokenizer.model beside it when there is one.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "app/commands/model_source.h"
#include "app/train/memory_fit.h"
#include "app/train/run_config.h"
#include "budget/report.h"
#include "profiles/loader.h"
#include "trainer/layout.h"
#include "trainer/model_config.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {
namespace {

struct BudgetArgs {
  std::string profile = "host";
  std::string model;          // empty = train's default model
  std::string tokenizer;      // empty = train's default tokenizer
  std::string mode = "full";
  std::string base;           // empty = the mode's default
  std::string optimizer = "adamw";
  std::string targets;        // comma-separated; empty = default
  std::string format = "text";
  int rank = 16;
  std::optional<int> seq;     // unset = train's default
  std::optional<int> batch;   // unset = train's default
  int threads = 0;
  std::string grad_checkpoint = "auto";  // as train: auto | on | off (bare flag: on)
  bool stream_base = false;
  bool fit = false;
};

// A preset name, or a model TOML file (a path: contains '/' or ends in .toml).
common::Result<trainer::ModelConfig> resolve_model(const std::string& name) {
  if (name.find('/') != std::string::npos || name.ends_with(".toml")) return trainer::load_model_config_file(name);
  return trainer::model_preset(name);
}

common::Result<budget::RunConfig> run_config_from(const BudgetArgs& a) {
  budget::RunConfig run;
  NS_ASSIGN_OR_RETURN(run.mode, budget::parse_train_mode(a.mode));
  run.base_precision = budget::default_base_precision(run.mode);
  if (!a.base.empty()) {
    NS_ASSIGN_OR_RETURN(run.base_precision, budget::parse_precision(a.base));
  }
  NS_ASSIGN_OR_RETURN(run.optimizer, budget::parse_optimizer(a.optimizer));
  size_t start = 0;
  while (start < a.targets.size()) {
    size_t comma = a.targets.find(',', start);
    std::string t = a.targets.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!t.empty()) run.lora_targets.push_back(t);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const RunConfig train_defaults = default_run_config();
  run.lora_rank = a.rank;
  run.seq_len = a.seq.value_or(train_defaults.shape.seq_len);
  run.micro_batch = a.batch.value_or(train_defaults.shape.batch);
  run.threads = a.threads;
  NS_ASSIGN_OR_RETURN(GradCheckpoint checkpoint, parse_grad_checkpoint(a.grad_checkpoint));
  run.grad_checkpoint = checkpoint == GradCheckpoint::kOn;
  NS_RETURN_IF_ERROR(budget::validate_run_config(run));
  return run;
}

// The report in the chosen format; --fit keeps only the answer to "what fits" (in every format).
common::Result<std::string> render_report(const BudgetArgs& a, const budget::BudgetReport& report) {
  if (a.format == "json") return a.fit ? budget::render_fit_json(report) : budget::render_report_json(report);
  if (a.fit) {
    // The training table and the recommendation.
    std::vector<budget::Table> tables = budget::report_tables(report);
    std::string out;
    for (size_t i = tables.size() - 2; i < tables.size(); ++i) {
      out += a.format == "markdown" ? budget::render_markdown(tables[i]) : budget::render_text(tables[i], 80) + "\n";
    }
    return out;
  }
  return a.format == "markdown" ? budget::render_report_markdown(report) : budget::render_report_text(report);
}

// train's model and tokenizer when not given: "gpt-tiny" from "preset:gpt-tiny", "byte".
std::string default_model() {
  const std::string source = default_run_config().model_source;
  return source.rfind("preset:", 0) == 0 ? source.substr(7) : source;
}

struct Rendered {
  std::string text;
  bool fits = true;
};

common::Result<Rendered> render(const BudgetArgs& a) {
  if (a.format != "text" && a.format != "markdown" && a.format != "json") {
    return common::Status::InvalidArgument("unknown --format '" + a.format + "' (known: text, markdown, json)");
  }
  NS_ASSIGN_OR_RETURN(budget::RunConfig run, run_config_from(a));
  NS_ASSIGN_OR_RETURN(profiles::HardwareProfile profile, profiles::find_profile(a.profile));
  const bool config_only = a.model.ends_with(".json");
  const bool imported = config_only || trainer::ImportedModel::is_importable(a.model);
  trainer::ModelConfig model;
  nlohmann::ordered_json about;  // the pretrained model, when one is planned
  if (config_only) {
    NS_ASSIGN_OR_RETURN(trainer::ImportedModel::ConfigOnly c, trainer::ImportedModel::read_hf_config(a.model));
    model = c.config;
    // Its own vocabulary when a tokenizer sits beside the config, unless --tokenizer names another.
    if (a.tokenizer.empty() && !c.tokenizer_spec.empty()) {
      auto tok = trainer::make_tokenizer(c.tokenizer_spec);
      if (!tok.ok()) return tok.status();
      model.vocab_size = std::max(model.vocab_size, (*tok)->vocab_size());
    }
    NS_ASSIGN_OR_RETURN(int64_t params, trainer::count_parameters(model));
    about = {{"path", a.model},
             {"architecture", c.architecture->name},
             {"format", "hf-config"},
             {"tokenizer", c.tokenizer_spec},
             {"parameters", params}};
  } else if (imported) {
    NS_ASSIGN_OR_RETURN(ModelSource src, open_imported_source(a.model, false));
    model = src.config;
    // Its own vocabulary, unless --tokenizer names another (the rows the embedding would get).
    if (a.tokenizer.empty() && src.tokenizer != nullptr) model.vocab_size = src.tokenizer->vocab_size();
    about = {{"path", a.model},
             {"architecture", src.imported->architecture().name},
             {"format", src.imported->format()},
             {"tokenizer", src.imported->tokenizer_spec()},
             {"parameters", src.imported->parameter_count()}};
    // As train does: a GGUF base (and an HF base in lora mode) stays mapped in its file's types
    // unless --base-format asks for another storage; the plan counts those bytes.
    if (run.mode != trainer::TrainMode::kFull && a.base.empty() &&
        (std::string(src.imported->format()) == "gguf" || run.mode == trainer::TrainMode::kLora)) {
      run.mapped_base = true;
      NS_ASSIGN_OR_RETURN(run.mapped_base_bytes, src.imported->mapped_linear_bytes(model));
      run.stream_base = a.stream_base;
    }
  } else {
    NS_ASSIGN_OR_RETURN(model, resolve_model(a.model.empty() ? default_model() : a.model));
  }
  // The vocabulary follows the tokenizer, as in train (a GPT-2 run has 50257 rows, not 256).
  if (!imported || !a.tokenizer.empty()) {
    const std::string tokenizer = a.tokenizer.empty() ? default_run_config().tokenizer : a.tokenizer;
    NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Tokenizer> tok, trainer::make_tokenizer(tokenizer));
    model.vocab_size = tok->vocab_size();
  }
  if (a.stream_base && !run.mapped_base) {
    return common::Status::InvalidArgument(
        "--stream-base: only a base read from its model file can be streamed (lora/qlora over a .gguf, or lora "
        "over a Hugging Face directory, without --base-format)");
  }
  NS_ASSIGN_OR_RETURN(budget::BudgetReport report, budget::build_report(profile, model, run));
  // As train's --grad-checkpoint auto: a run that does not fit as asked is planned with checkpointing
  // when that fits. (train may also split the micro-batch first; the report's recommendation shows
  // the largest micro-batch either way.)
  std::string chosen;
  NS_ASSIGN_OR_RETURN(GradCheckpoint checkpoint, parse_grad_checkpoint(a.grad_checkpoint));
  if (checkpoint == GradCheckpoint::kAuto && !report.selected.fits() && !run.grad_checkpoint) {
    budget::RunConfig with = run;
    with.grad_checkpoint = true;
    NS_ASSIGN_OR_RETURN(budget::BudgetReport checkpointed, budget::build_report(profile, model, with));
    if (checkpointed.selected.fits()) {
      report = std::move(checkpointed);
      chosen = "--grad-checkpoint auto: checkpointing, the run does not fit without it\n\n";
    }
  }
  Rendered out;
  out.fits = report.selected.fits();
  NS_ASSIGN_OR_RETURN(out.text, render_report(a, report));
  if (!chosen.empty() && a.format != "json") out.text = chosen + out.text;
  if (imported) {
    if (a.format == "json") {
      nlohmann::ordered_json j = nlohmann::ordered_json::parse(out.text);
      j["imported"] = about;
      out.text = j.dump(2) + "\n";
    } else {
      out.text = "model " + a.model + ": " + about["architecture"].get<std::string>() + " (" +
                 about["format"].get<std::string>() + "), " + std::to_string(about["parameters"].get<int64_t>()) +
                 (config_only ? " parameters by its config\n\n" : " parameters in its tensors\n\n") + out.text;
    }
  }
  return out;
}

void register_budget_report(CLI::App& root, Action& run) {
  auto args = std::make_shared<BudgetArgs>();
  CLI::App* cmd = root.add_subcommand("budget-report", "plan the memory of a run on a device profile (nothing is trained)");
  cmd->add_option("--profile,-p", args->profile, "device profile name, a profile .toml file, or 'host'")
      ->capture_default_str();
  cmd->add_option("--model,-m", args->model, "model preset name, model .toml file, or a pretrained model (.gguf file, Hugging Face directory, or its config.json alone)")->default_str(default_model());
  cmd->add_option("--tokenizer", args->tokenizer, "byte | gpt2:DIR: the vocabulary of the run (as train)")
      ->default_str(default_run_config().tokenizer);
  cmd->add_option("--mode", args->mode, "training mode: full, lora or qlora")->capture_default_str();
  cmd->add_option("--base-format", args->base, "frozen base storage: f32, f16, bf16 (lora); nf4-dq, nf4, q8 (qlora)");
  cmd->add_option("--rank,-r", args->rank, "LoRA rank")->capture_default_str();
  cmd->add_option("--targets", args->targets, "LoRA targets, comma-separated (default: q,k,v,o,gate,up,down,in_proj,out_proj)");
  cmd->add_option("--optimizer", args->optimizer, "adamw or sgd")->capture_default_str();
  cmd->add_option("--seq,-s", args->seq, "sequence length in tokens (train's default)")
      ->default_str(std::to_string(default_run_config().shape.seq_len));
  cmd->add_option("--batch,-b", args->batch, "micro-batch size in sequences (train's default)")
      ->default_str(std::to_string(default_run_config().shape.batch));
  cmd->add_option("--threads", args->threads, "threads (sizes per-thread buffers; 0 = the profile's cores)");
  cmd->add_option("--grad-checkpoint", args->grad_checkpoint,
                  "auto | on | off, as train: recompute each block in backward to save memory (auto: when the run "
                  "does not fit without it; bare flag: on)")
      ->expected(0, 1)
      ->default_str("on")  // the value of a bare --grad-checkpoint; not given, it stays auto
      ->option_text("[auto|on|off]=auto");
  cmd->add_flag("--stream-base", args->stream_base,
                "plan the frozen base as streamed from its file (page cache), outside the resident total (as train --stream-base)");
  cmd->add_flag("--fit", args->fit, "print only what fits: largest sequence, micro-batch and rank, and the recommendation");
  cmd->add_option("--format,-f", args->format, "text, markdown or json")->capture_default_str();
  cmd->callback([&run, args] {
    run = [args] {
      common::Result<Rendered> out = render(*args);
      if (!out.ok()) return report_error(out.status());
      std::fputs(out->text.c_str(), stdout);
      // As train: a run that does not fit is exit 3 (the report says why and what would fit).
      return out->fits ? kExitOk : kExitDoesNotFit;
    };
  });
}

}  // namespace
NS_REGISTER_COMMAND(register_budget_report);
}  // namespace app
