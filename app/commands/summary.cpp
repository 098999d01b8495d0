// `nightshift summary RUN_DIR [--json]`: the night at a glance, from the run log.
#include <cstdio>

#include "app/commands/command_registry.h"
#include "app/runlog/run_summary.h"

namespace app {
namespace {

struct SummaryArgs {
  std::string run_dir;
  bool json = false;
};

int run_summary(const SummaryArgs& args) {
  auto reader = RunLogReader::open(args.run_dir);
  if (!reader.ok()) return report_error(reader.status());
  auto summary = summarize_run(**reader);
  if (!summary.ok()) return report_error(summary.status().with_context(args.run_dir));
  std::string text = args.json ? render_summary_json(*summary) : render_summary_text(*summary);
  if (!text.empty() && text.back() != '\n') text += '\n';
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

void register_summary(CLI::App& root, Action& run) {
  auto args = std::make_shared<SummaryArgs>();
  CLI::App* cmd = root.add_subcommand("summary", "the night at a glance: tokens, pauses, temperatures, losses");
  cmd->add_option("run_dir", args->run_dir, "run directory")->required();
  cmd->add_flag("--json", args->json, "one JSON object instead of text");
  cmd->callback([&run, args] { run = [args] { return run_summary(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_summary);
}  // namespace app
