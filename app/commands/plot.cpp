// `nightshift plot RUN_DIR -o FILE.svg [--force]`: loss (train and validation) against steps or time,
// and temperature against time with the governor's bands (shrink, pause, stop), drawn from the run
// log as one SVG file (written atomically). A run without temperature readings gets no temperature
// chart; lines break where nothing was logged for a while (pauses, downtime between processes).
// The output is SVG only: a name without extension gets ".svg", another extension is refused, and
// an existing file is replaced only with --force. Read-only on the log.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app/commands/command_registry.h"
#include "app/runlog/run_liveness.h"
#include "app/runlog/run_log.h"
#include "app/runlog/svg_plot.h"
#include "common/atomic_file.h"
#include "common/clock.h"

namespace app {
namespace {

struct PlotArgs {
  std::string run_dir;
  std::string output;
  int64_t run_id = -1;
  std::string x_axis = "steps";
  bool log_y = false;
  bool force = false;
};

// Breaks the line (a NaN point) wherever consecutive points are further apart in time than
// `gap_s`. `t` holds the time of each point of `s`.
void break_at_gaps(SvgSeries& s, const std::vector<double>& t, double gap_s) {
  SvgSeries out = s;
  out.x.clear();
  out.y.clear();
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (i > 0 && t[i] - t[i - 1] > gap_s) {
      out.x.push_back(s.x[i]);
      out.y.push_back(std::nan(""));
    }
    out.x.push_back(s.x[i]);
    out.y.push_back(s.y[i]);
  }
  s = std::move(out);
}

// A silence longer than this (seconds) is a gap: many times the usual spacing, at least a minute.
double gap_threshold(std::vector<double> t) {
  if (t.size() < 3) return 60;
  std::vector<double> d;
  for (size_t i = 1; i < t.size(); ++i) d.push_back(t[i] - t[i - 1]);
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  return std::max(60.0, 10 * d[d.size() / 2]);
}

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
  std::vector<std::pair<double, double>> temps;  // (seconds since the epoch, temp_c)
  std::vector<double> train_t;
  for (const StepRow& row : steps) {
    const StepRecord& s = row.record;
    double x = by_time ? minutes(s.time_s) : static_cast<double>(s.step);
    if (!std::isnan(s.loss)) {
      train.x.push_back(x);
      train.y.push_back(s.loss);
      train_t.push_back(s.time_s);
    }
    if (!std::isnan(s.val_loss)) {
      val.x.push_back(x);
      val.y.push_back(s.val_loss);
    }
    if (!std::isnan(s.temp_c)) temps.emplace_back(s.time_s, s.temp_c);
  }
  for (const SampleRow& s : samples) {
    if (!std::isnan(s.temp_c)) temps.emplace_back(s.time_s, s.temp_c);
  }
  std::sort(temps.begin(), temps.end());
  SvgSeries temp = series("temperature", "#2ca02c");
  std::vector<double> temp_t;
  for (auto [t, c] : temps) {
    temp.x.push_back(minutes(t));
    temp.y.push_back(c);
    temp_t.push_back(t);
  }
  break_at_gaps(train, train_t, gap_threshold(train_t));
  break_at_gaps(temp, temp_t, gap_threshold(temp_t));

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
      {run.temp_warn_c, "shrink", "#bcbd22"}, {run.temp_hot_c, "pause", "#ff7f0e"}, {run.temp_crit_c, "stop", "#d62728"}};
  for (const auto& t : thresholds) {
    if (!std::isnan(t.c)) {
      char label[64];
      std::snprintf(label, sizeof label, "%s %.0f °C", t.what, t.c);
      temp_chart.hlines.push_back({t.c, label, t.color});
    }
  }
  std::string name = run.name.empty() ? std::filesystem::path(args.run_dir).filename().string() : run.name;
  const std::string status = describe_status(run_liveness(run, args.run_dir, common::SteadyClock().wall_s()));
  std::string title = "nightshift run " + std::to_string(run.id) + ": " + name + " (" + status + ", " +
                      std::to_string(steps.size()) + " steps)";
  // No sensor, no readings: no temperature chart (an empty one would show a made-up axis).
  if (temps.empty()) return render_svg(title, {loss_chart});
  return render_svg(title, {loss_chart, temp_chart});
}

// The file to write: FILE.svg as given, FILE with ".svg" added when it has no extension.
// InvalidArgument for any other extension (the plot is SVG; a .png would hold SVG text).
common::Result<std::string> svg_output_path(const std::string& output) {
  std::filesystem::path out(output);
  std::string ext = out.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".svg") return output;
  if (ext.empty()) return output + ".svg";
  return common::Status::InvalidArgument(output + ": plot writes SVG only; name the file " +
                                         out.replace_extension(".svg").string() + " (convert it with rsvg-convert " +
                                         "or a browser for " + ext + ")");
}

int run_plot_command(const PlotArgs& args) {
  auto path = svg_output_path(args.output);
  if (!path.ok()) return report_error(path.status());
  std::filesystem::path out(*path);
  std::error_code ec;
  if (out.has_parent_path() && !std::filesystem::is_directory(out.parent_path(), ec)) {
    return report_error(common::Status::InvalidArgument(*path + ": directory " +
                                                        out.parent_path().string() + " does not exist"));
  }
  if (!args.force && std::filesystem::exists(out, ec)) {
    return report_error(common::Status::InvalidArgument(*path + ": already exists (use --force to replace it)"));
  }
  auto svg = build_plot(args);
  if (!svg.ok()) return report_error(svg.status());
  common::Status s = common::write_file_atomic(*path, *svg);
  if (!s.ok()) return report_error(s);
  if (*path != args.output) std::fprintf(stderr, "nightshift: wrote %s\n", path->c_str());
  return kExitOk;
}

void register_plot(CLI::App& root, Action& run) {
  auto args = std::make_shared<PlotArgs>();
  CLI::App* cmd = root.add_subcommand("plot", "draw loss and temperature of a run as an SVG file");
  cmd->add_option("run_dir", args->run_dir, "run directory")->required();
  cmd->add_option("-o,--output", args->output, "SVG file to write (.svg is added to a name without extension)")
      ->required();
  cmd->add_flag("--force", args->force, "replace the output file if it exists");
  cmd->add_option("--run", args->run_id, "run id (default: the latest run in the log)");
  cmd->add_option("--x", args->x_axis, "x axis of the loss chart: steps (default) or time")
      ->check(CLI::IsMember({"steps", "time"}));
  cmd->add_flag("--log-y", args->log_y, "log scale for the loss axis");
  cmd->callback([args, &run] { run = [args] { return run_plot_command(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_plot);
}  // namespace app
