// `nightshift demo-run RUN_DIR --steps N --step-ms M`: a demo/test writer, NOT training. It
// simulates a run into RUN_DIR/run.db (see run_log_demo.h) and obeys the control table, so the run
// log, `nightshift top`, `log` and `plot` can be tried and tested before (and apart from) a real
// training loop. With --tui it also shows the dashboard in-process, the way `train --tui` does:
// the dashboard on its own thread reading the log, its commands handed to the writer's loop.
#include <atomic>
#include <chrono>
#include <optional>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "app/commands/command_registry.h"
#include "app/loop/dashboard_model_builder.h"
#include "app/runlog/run_log.h"
#include "app/runlog/run_log_demo.h"
#include "common/clock.h"
#include "tui/dashboard.h"

namespace app {
namespace {

struct DemoArgs {
  std::string run_dir;
  DemoOptions demo;
  double step_ms = 100;
  bool tui = false;
};

std::atomic<bool> g_signalled{false};
extern "C" void on_demo_signal(int) { g_signalled.store(true); }

int run_demo(const DemoArgs& args) {
  std::error_code ec;
  std::filesystem::create_directories(args.run_dir, ec);
  if (ec) return report_error(common::Status::InvalidArgument(args.run_dir + ": cannot create: " + ec.message()));
  common::SteadyClock clock;
  auto log = RunLog::open(args.run_dir, {}, &clock);
  if (!log.ok()) return report_error(log.status());
  DemoWriter writer(**log, args.run_dir, args.demo, clock);
  common::Status s = writer.begin();
  if (!s.ok()) return report_error(s);

  // In-process dashboard: its own thread and its own read-only connection to the log.
  tui::CommandQueue commands;
  std::atomic<bool> stop_dashboard{false}, dashboard_done{false};
  std::optional<common::Result<tui::DashboardExit>> dashboard_exit;
  std::thread dashboard;
  if (args.tui) {
    auto reader = RunLogReader::open(args.run_dir);
    if (!reader.ok()) return report_error(reader.status());
    dashboard = std::thread([&, reader = std::shared_ptr<RunLogReader>(std::move(reader).value())] {
      DashboardBuilderOptions options;
      options.run_dir_name = std::filesystem::path(args.run_dir).filename().string();
      DashboardModelBuilder builder(*reader, options);
      std::shared_ptr<const tui::DashboardModel> last;
      tui::SnapshotFn sample = [&]() -> std::shared_ptr<const tui::DashboardModel> {
        auto m = builder.refresh(common::wall_now_s());
        if (m.ok()) last = std::make_shared<const tui::DashboardModel>(std::move(m).value());
        return last;
      };
      dashboard_exit = tui::run_dashboard(sample, commands, {}, &stop_dashboard);
      dashboard_done.store(true);
    });
  } else {
    std::signal(SIGINT, on_demo_signal);
    std::signal(SIGTERM, on_demo_signal);
  }

  std::optional<RunStatus> forced;
  bool warned = false;
  while (writer.tick(args.tui ? &commands : nullptr)) {
    if (g_signalled.load()) {
      forced = RunStatus::kInterrupted;
      break;
    }
    if (dashboard_done.load()) {
      // The dashboard was closed (interrupt, or q twice): end the run the way q asks.
      bool interrupted = dashboard_exit && dashboard_exit->ok() && **dashboard_exit == tui::DashboardExit::kInterrupted;
      forced = interrupted ? RunStatus::kInterrupted : RunStatus::kStopped;
      break;
    }
    if (auto failure = (*log)->take_failure(); failure && !args.tui && !warned) {
      std::fprintf(stderr, "nightshift: warning: %s (the run goes on)\n", failure->message().c_str());
      warned = true;
    }
    clock.sleep_ms(args.step_ms);
  }
  s = writer.end(forced);
  if (args.tui) {
    stop_dashboard.store(true);
    dashboard.join();
    if (dashboard_exit && !dashboard_exit->ok()) return report_error(dashboard_exit->status());
  }
  std::fprintf(stderr, "demo-run: run %s at step %lld\n", run_status_name(forced.value_or(writer.final_status())),
               static_cast<long long>(writer.step()));
  if (!s.ok()) return report_error(s);
  return kExitOk;
}

void register_demo_run(CLI::App& root, Action& run) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = root.add_subcommand(
      "demo-run", "demo/test writer: simulate a run into RUN_DIR/run.db (trains nothing) and obey its control table");
  cmd->add_option("run_dir", args->run_dir, "run directory (created if missing)")->required();
  cmd->add_option("--steps", args->demo.steps, "simulated steps (default 300)")->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  cmd->add_option("--step-ms", args->step_ms, "milliseconds per step (default 100)")->check(CLI::Range(0.0, 600000.0));
  cmd->add_option("--checkpoint-every", args->demo.checkpoint_every, "steps between checkpoints (0: none)");
  cmd->add_option("--eval-every", args->demo.eval_every, "steps between validation losses (0: none)");
  cmd->add_option("--seed", args->demo.seed, "random seed");
  cmd->add_option("--name", args->demo.name, "run name");
  cmd->add_flag("--tui", args->tui, "show the dashboard in this terminal while writing");
  cmd->callback([args, &run] { run = [args] { return run_demo(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_demo_run);
}  // namespace app
