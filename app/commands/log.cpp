// `nightshift log RUN_DIR [steps|events|runs|checkpoints|samples|control] --format csv|json`:
// exports one table of a run log to stdout (or a file, written atomically; an existing file is
// replaced only with --force). Every time column (seconds since the epoch) is followed by the same
// time in ISO 8601 (UTC). Read-only: opening the log never changes it, even while a trainer is writing.
#include <cstdio>
#include <filesystem>

#include "app/commands/command_registry.h"
#include "app/runlog/run_log.h"
#include "app/runlog/run_log_export.h"
#include "common/atomic_file.h"

namespace app {
namespace {

struct LogArgs {
  std::string run_dir;
  std::string table = "steps";
  std::string format = "csv";
  int64_t run_id = -1;
  std::string output;
  bool force = false;
};

int run_log_command(const LogArgs& args) {
  std::error_code ec;
  if (!args.output.empty() && !args.force && std::filesystem::exists(args.output, ec)) {
    return report_error(common::Status::InvalidArgument(args.output + ": already exists (use --force to replace it)"));
  }
  auto reader = RunLogReader::open(args.run_dir);
  if (!reader.ok()) return report_error(reader.status());
  if (args.run_id >= 0) {
    auto run = (*reader)->run(args.run_id);
    if (!run.ok()) return report_error(run.status());
  }
  auto table = (*reader)->table(args.table, args.run_id);
  if (!table.ok()) return report_error(table.status());
  add_iso_time_columns(*table);
  std::string text = args.format == "json" ? table_to_json(*table) : table_to_csv(*table);
  if (!args.output.empty()) {
    common::Status s = common::write_file_atomic(args.output, text);
    if (!s.ok()) return report_error(s);
    return kExitOk;
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  return std::fflush(stdout) == 0 ? kExitOk : kExitFailure;
}

void register_log(CLI::App& root, Action& run) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* cmd = root.add_subcommand("log", "export a table of a run log (RUN_DIR/run.db) as CSV or JSON");
  cmd->add_option("run_dir", args->run_dir, "run directory")->required();
  cmd->add_option("table", args->table, "table to export (default: steps)")
      ->check(CLI::IsMember({"steps", "events", "runs", "checkpoints", "samples", "control"}));
  cmd->add_option("--format", args->format, "csv (default) or json")->check(CLI::IsMember({"csv", "json"}));
  cmd->add_option("--run", args->run_id, "only this run id (default: all runs in the log)");
  cmd->add_option("-o,--output", args->output, "write to this file instead of stdout");
  cmd->add_flag("--force", args->force, "replace --output if it exists");
  cmd->callback([args, &run] { run = [args] { return run_log_command(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_log);
}  // namespace app
