// `nightshift top RUN_DIR`: the dashboard attached to a running or finished run through its run
// log. Reads with a read-only connection a few times a second; its keys become rows in the
// control table, which the trainer polls. `--print` renders one frame as text instead (no
// terminal needed: scripts, ssh without a tty, bug reports).
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "app/commands/command_registry.h"
#include "app/loop/dashboard_model_builder.h"
#include "app/runlog/run_log.h"
#include "common/clock.h"
#include "tui/dashboard.h"
#include "tui/screen.h"

namespace app {
namespace {

struct TopArgs {
  std::string run_dir;
  int64_t run_id = -1;
  int refresh_ms = 250;
  bool log_scale = false;
  bool ascii = false;
  bool no_color = false;
  bool print = false;
  int width = 80;
  int height = 24;
};

std::string dir_name(const std::string& run_dir) {
  std::filesystem::path p(run_dir);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

int run_top(const TopArgs& args) {
  auto reader = RunLogReader::open(args.run_dir);
  if (!reader.ok()) return report_error(reader.status());
  DashboardBuilderOptions options;
  options.run_id = args.run_id;
  options.run_dir_name = dir_name(args.run_dir);
  DashboardModelBuilder builder(**reader, options);

  if (args.print) {
    auto model = builder.refresh(common::wall_now_s());
    if (!model.ok()) return report_error(model.status());
    tui::ViewState view;
    view.ascii = args.ascii;
    view.log_scale = args.log_scale;
    view.attached = true;
    std::string text = tui::render_screen(*model, view, args.width, args.height).to_text();
    std::printf("%s\n", text.c_str());
    return kExitOk;
  }

  // The first read happens before the terminal is taken, so a bad log is a plain error line. A
  // log whose trainer has not started its run yet is shown empty until it does.
  auto first = builder.refresh(common::wall_now_s());
  if (!first.ok() && first.status().code() != common::StatusCode::kNotFound) return report_error(first.status());
  tui::DashboardModel initial;
  if (first.ok()) {
    initial = std::move(first).value();
  } else {
    initial.run_name = options.run_dir_name;
    initial.status = "waiting";
  }
  auto last = std::make_shared<const tui::DashboardModel>(std::move(initial));
  tui::CommandQueue commands;
  std::string send_error, read_error;
  // Sampling (on the dashboard's thread, never while drawing): forward the keys pressed since the
  // last sample to the trainer, then read what the trainer wrote.
  tui::SnapshotFn sample = [&]() -> std::shared_ptr<const tui::DashboardModel> {
    while (auto command = commands.try_pop()) {
      if (auto kind = control_for(*command)) {
        auto sent = (*reader)->send_control(*kind);
        if (sent.ok()) send_error.clear();
        else send_error = "cannot send " + std::string(control_kind_name(*kind)) + ": " + sent.status().message();
      }
    }
    auto model = builder.refresh(common::wall_now_s());
    if (model.ok()) {
      last = std::make_shared<const tui::DashboardModel>(std::move(model).value());
      read_error.clear();
    } else {
      read_error = model.status().message();
    }
    const std::string& notice = read_error.empty() ? send_error : read_error;
    if (notice.empty()) return last;
    auto with_notice = std::make_shared<tui::DashboardModel>(*last);
    with_notice->notice = notice;
    return with_notice;
  };
  tui::DashboardOptions dash;
  dash.refresh_ms = args.refresh_ms;
  dash.attached = true;
  dash.ascii = args.ascii;
  dash.color = !args.no_color;
  dash.log_scale = args.log_scale;
  auto exit = tui::run_dashboard(sample, commands, dash);
  if (!exit.ok()) return report_error(exit.status());
  // A quit pressed just before leaving still reaches the trainer.
  while (auto command = commands.try_pop()) {
    if (auto kind = control_for(*command)) (void)(*reader)->send_control(*kind);
  }
  return kExitOk;
}

void register_top(CLI::App& root, Action& run) {
  auto args = std::make_shared<TopArgs>();
  CLI::App* cmd = root.add_subcommand("top", "watch a run (running or finished) in a dashboard, through its run log");
  cmd->add_option("run_dir", args->run_dir, "run directory")->required();
  cmd->add_option("--run", args->run_id, "run id (default: the newest run in the log)");
  cmd->add_option("--refresh-ms", args->refresh_ms, "redraw period in milliseconds (default 250)")
      ->check(CLI::Range(50, 10000));
  cmd->add_flag("--log-scale", args->log_scale, "start with the loss plot on a log scale");
  cmd->add_flag("--ascii", args->ascii, "ASCII only (no braille, box drawing or blocks)");
  cmd->add_flag("--no-color", args->no_color, "no colours");
  cmd->add_flag("--print", args->print, "print one frame as text and exit (no terminal needed)");
  cmd->add_option("--width", args->width, "width of the --print frame (default 80)")->check(CLI::Range(20, 1000));
  cmd->add_option("--height", args->height, "height of the --print frame (default 24)")->check(CLI::Range(5, 1000));
  cmd->callback([args, &run] { run = [args] { return run_top(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_top);
}  // namespace app
