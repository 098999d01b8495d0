// `nightshift plot RUN_DIR -o FILE.svg`: loss (train and validation) against steps or time, and
// temperature against time with the governor's thresholds, drawn from the run log as one SVG file
// (written atomically). Read-only on the log.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "app/commands/command_registry.h"
#include "app/runlog/run_log.h"
#include "app/runlog/svg_plot.h"
#include "common/atomic_file.h"

namespace app {
namespace {

struct PlotArgs {
  std::string run_dir;
  std::string output;
  int64_t run_id = -1;
  std::string x_axis = "steps";
  bool log_y = false;
};

SvgSeries series(const char* name, const char* color) {
  SvgSeries s;
  s.name = name;
  s.color = color;
  return s;
}

common::Result<std::string> build_plot(const PlotArgs& args) {
  NS_ASSIGN_OR_RETURN(auto reader, RunLogReader::open(args.run_dir));
  NS_RETURN_IF_ERROR(reader->begin_snapshot());
  NS_ASSIGN_OR_RETURN(RunRow run, args.run_id >= 0 ? reader->run(args.run_id) : reader->latest_run());
  NS_ASSIGN_OR_RETURN(std::vector<StepRow> steps, reader->steps(run.id));
  NS_ASSIGN_OR_RETURN(std::vector<SampleRow> samples, reader->samples(run.id));
  reader->end_snapshot();

  const bool by_time = args.x_axis == "time";
  auto minutes = [&](double t) { return (t - run.started_s) / 60.0; };
  SvgSeries train = series("train loss", "#1f77b4");
  SvgSeries val = series("validation loss", "#ff7f0e");
  val.dashed = true;
  val.markers = true;
  std::vector<std::pair<double, double>> temps;  // (minutes, temp_c)
  for (const StepRow& row : steps) {
    const StepRecord& s = row.record;
    double x = by_time ? minutes(s.time_s) : static_cast<double>(s.step);
    if (!std::isnan(s.loss)) {
      train.x.push_back(x);
      train.y.push_back(s.loss);
    }
    if (!std::isnan(s.val_loss)) {
      val.x.push_back(x);
      val.y.push_back(s.val_loss);
    }
    if (!std::isnan(s.temp_c)) temps.emplace_back(minutes(s.time_s), s.temp_c);
  }
  for (const SampleRow& s : samples) {
    if (!std::isnan(s.temp_c)) temps.emplace_back(minutes(s.time_s), s.temp_c);
  }
  std::sort(temps.begin(), temps.end());
  SvgSeries temp = series("temperature", "#2ca02c");
  for (auto [t, c] : temps) {
    temp.x.push_back(t);
    temp.y.push_back(c);
  }

  SvgChart loss_chart;
  loss_chart.title = "Loss";
  loss_chart.x_label = by_time ? "time since start (minutes)" : "step";
  loss_chart.y_label = "loss";
  loss_chart.series = {train, val};
  loss_chart.log_y = args.log_y;
  SvgChart temp_chart;
  temp_chart.title = "Temperature";
  temp_chart.x_label = "time since start (minutes)";
  temp_chart.y_label = "temperature (°C)";
  temp_chart.series = {temp};
  struct { double c; const char* what; const char* color; } thresholds[] = {
      {run.temp_warn_c, "warn", "#bcbd22"}, {run.temp_hot_c, "hot", "#ff7f0e"}, {run.temp_crit_c, "critical", "#d62728"}};
  for (const auto& t : thresholds) {
    if (!std::isnan(t.c)) {
      char label[64];
      std::snprintf(label, sizeof label, "%s %.0f °C", t.what, t.c);
      temp_chart.hlines.push_back({t.c, label, t.color});
    }
  }
  std::string name = run.name.empty() ? std::filesystem::path(args.run_dir).filename().string() : run.name;
  std::string title = "nightshift run " + std::to_string(run.id) + ": " + name + " (" + run.status + ", " +
                      std::to_string(steps.size()) + " steps)";
  return render_svg(title, {loss_chart, temp_chart});
}

int run_plot_command(const PlotArgs& args) {
  std::filesystem::path out(args.output);
  std::error_code ec;
  if (out.has_parent_path() && !std::filesystem::is_directory(out.parent_path(), ec)) {
    return report_error(common::Status::InvalidArgument(args.output + ": directory " +
                                                        out.parent_path().string() + " does not exist"));
  }
  auto svg = build_plot(args);
  if (!svg.ok()) return report_error(svg.status());
  common::Status s = common::write_file_atomic(args.output, *svg);
  if (!s.ok()) return report_error(s);
  return kExitOk;
}

void register_plot(CLI::App& root, Action& run) {
  auto args = std::make_shared<PlotArgs>();
  CLI::App* cmd = root.add_subcommand("plot", "draw loss and temperature of a run as an SVG file");
  cmd->add_option("run_dir", args->run_dir, "run directory")->required();
  cmd->add_option("-o,--output", args->output, "SVG file to write")->required();
  cmd->add_option("--run", args->run_id, "run id (default: the latest run in the log)");
  cmd->add_option("--x", args->x_axis, "x axis of the loss chart: steps (default) or time")
      ->check(CLI::IsMember({"steps", "time"}));
  cmd->add_flag("--log-y", args->log_y, "log scale for the loss axis");
  cmd->callback([args, &run] { run = [args] { return run_plot_command(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_plot);
}  // namespace app
