// `nightshift budget-report` (also installed as `budget-report`): plans a run's memory on a device
// profile and prints the itemized report as text (80 columns), markdown or JSON. Pure planning:
// nothing is allocated or trained. Unknown profile/model, malformed files and absurd numbers
// exit 2 with one line saying what is wrong.
#include <cstdio>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "budget/report.h"
#include "profiles/loader.h"
#include "trainer/model_config.h"

namespace app {
namespace {

struct BudgetArgs {
  std::string profile = "host";
  std::string model = "gpt-tiny";
  std::string mode = "full";
  std::string base;           // empty = the mode's default
  std::string optimizer = "adamw";
  std::string targets;        // comma-separated; empty = default
  std::string format = "text";
  int rank = 16;
  int seq = 512;
  int batch = 1;
  int threads = 0;
  bool grad_checkpoint = false;
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
  run.lora_rank = a.rank;
  run.seq_len = a.seq;
  run.micro_batch = a.batch;
  run.threads = a.threads;
  run.grad_checkpoint = a.grad_checkpoint;
  NS_RETURN_IF_ERROR(budget::validate_run_config(run));
  return run;
}

common::Result<std::string> render(const BudgetArgs& a) {
  if (a.format != "text" && a.format != "markdown" && a.format != "json") {
    return common::Status::InvalidArgument("unknown --format '" + a.format + "' (known: text, markdown, json)");
  }
  NS_ASSIGN_OR_RETURN(budget::RunConfig run, run_config_from(a));
  NS_ASSIGN_OR_RETURN(profiles::HardwareProfile profile, profiles::find_profile(a.profile));
  NS_ASSIGN_OR_RETURN(trainer::ModelConfig model, resolve_model(a.model));
  NS_ASSIGN_OR_RETURN(budget::BudgetReport report, budget::build_report(profile, model, run));
  if (a.format == "json") return budget::render_report_json(report);
  if (a.fit) {
    // Only the answer to "what fits": the training table and the recommendation.
    std::vector<budget::Table> tables = budget::report_tables(report);
    std::string out;
    for (size_t i = tables.size() - 2; i < tables.size(); ++i) {
      out += a.format == "markdown" ? budget::render_markdown(tables[i]) : budget::render_text(tables[i], 80) + "\n";
    }
    return out;
  }
  return a.format == "markdown" ? budget::render_report_markdown(report) : budget::render_report_text(report);
}

void register_budget_report(CLI::App& root, Action& run) {
  auto args = std::make_shared<BudgetArgs>();
  CLI::App* cmd = root.add_subcommand("budget-report", "plan the memory of a run on a device profile (nothing is trained)");
  cmd->add_option("--profile,-p", args->profile, "device profile name, a profile .toml file, or 'host'")
      ->capture_default_str();
  cmd->add_option("--model,-m", args->model, "model preset name or model .toml file")->capture_default_str();
  cmd->add_option("--mode", args->mode, "training mode: full, lora or qlora")->capture_default_str();
  cmd->add_option("--base-format", args->base, "frozen base storage: f32, f16, bf16 (lora); nf4-dq, nf4, q8 (qlora)");
  cmd->add_option("--rank,-r", args->rank, "LoRA rank")->capture_default_str();
  cmd->add_option("--targets", args->targets, "LoRA targets, comma-separated (default: q,k,v,o,gate,up,down,in_proj,out_proj)");
  cmd->add_option("--optimizer", args->optimizer, "adamw or sgd")->capture_default_str();
  cmd->add_option("--seq,-s", args->seq, "sequence length in tokens")->capture_default_str();
  cmd->add_option("--batch,-b", args->batch, "micro-batch size in sequences")->capture_default_str();
  cmd->add_option("--threads", args->threads, "threads (sizes per-thread buffers; 0 = the profile's cores)");
  cmd->add_flag("--grad-checkpoint", args->grad_checkpoint, "gradient checkpointing (keep block inputs, recompute)");
  cmd->add_flag("--fit", args->fit, "print only what fits: largest sequence, micro-batch and rank, and the recommendation");
  cmd->add_option("--format,-f", args->format, "text, markdown or json")->capture_default_str();
  cmd->callback([&run, args] {
    run = [args] {
      common::Result<std::string> out = render(*args);
      if (!out.ok()) return report_error(out.status());
      std::fputs(out->c_str(), stdout);
      return kExitOk;
    };
  });
}

}  // namespace
NS_REGISTER_COMMAND(register_budget_report);
}  // namespace app
