// Computing and rendering the summary of a run from its log.
#include "app/runlog/run_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "app/runlog/run_liveness.h"
#include "common/clock.h"
#include "common/units.h"
#include "thermal/governor_config.h"

namespace app {

namespace {

// Event kinds that mean "not training for a while", counted as pause reasons.
constexpr const char* kPauseKinds[] = {"pause", "paused", "cooldown", "thermal_pause", "wait_window", "battery",
                                       "memory_pause", "checkpoint_and_wait"};

bool is_pause_kind(const std::string& kind) {
  return std::any_of(std::begin(kPauseKinds), std::end(kPauseKinds), [&](const char* k) { return kind == k; });
}

// Sensor faults are problems too, whatever the governor did about them.
bool is_problem_kind(const std::string& kind) {
  return kind == "error" || kind == "warning" || kind.find("sensor_fault") != std::string::npos;
}

struct TempPoint {
  double time_s;
  double temp_c;
};

std::string fmt_temp(double c) { return std::isnan(c) ? "--" : fmt::format("{:.1f} °C", c); }
std::string fmt_loss(double l) { return std::isnan(l) ? "--" : fmt::format("{:.4f}", l); }

}  // namespace

common::Result<RunSummary> summarize_run(RunLogReader& reader, int64_t run_id) {
  RunSummary s;
  NS_RETURN_IF_ERROR(reader.begin_snapshot());
  struct EndSnapshot {
    RunLogReader& r;
    ~EndSnapshot() { r.end_snapshot(); }
  } snapshot_guard{reader};
  if (run_id < 0) {
    NS_ASSIGN_OR_RETURN(s.run, reader.latest_run());
  } else {
    NS_ASSIGN_OR_RETURN(s.run, reader.run(run_id));
  }
  NS_ASSIGN_OR_RETURN(std::vector<StepRow> steps, reader.steps(s.run.id));
  NS_ASSIGN_OR_RETURN(std::vector<SampleRow> samples, reader.samples(s.run.id));
  NS_ASSIGN_OR_RETURN(std::vector<EventRow> events, reader.events(s.run.id));
  NS_ASSIGN_OR_RETURN(s.checkpoints, reader.checkpoints(s.run.id));

  // A resumed run may rewrite steps; keep the newest row of each step.
  std::map<int64_t, StepRecord> by_step;
  for (const StepRow& r : steps) by_step[r.record.step] = r.record;
  s.steps = static_cast<int64_t>(by_step.size());

  // Readings the governor rejects (a sensor fault: -273 °C, 250 °C) are not temperatures; logs
  // written before such readings were stored as NULL may still hold them.
  const thermal::GovernorConfig plausible;
  auto is_temp = [&](double c) { return !std::isnan(c) && c >= plausible.plausible_min_c && c <= plausible.plausible_max_c; };

  std::vector<TempPoint> temps;
  uint64_t prev_tokens = 0, tokens_offset = 0;
  int prev_rank = -1, prev_threads = -1;
  double last_time = s.run.started_s;
  for (const auto& [step, r] : by_step) {
    s.last_step = step;
    // Logs of older versions restarted the counter with every resumed process: carry it on.
    if (r.tokens + tokens_offset < prev_tokens) tokens_offset = prev_tokens;
    const uint64_t tokens = r.tokens + tokens_offset;
    s.tokens = std::max(s.tokens, tokens);
    if (!std::isnan(r.loss)) s.last_loss = r.loss;
    if (tokens > prev_tokens && r.tokens_per_s > 0) s.training_s += double(tokens - prev_tokens) / r.tokens_per_s;
    prev_tokens = tokens;
    if (is_temp(r.temp_c)) temps.push_back({r.time_s, r.temp_c});
    if (r.lora_rank > 0) {
      if (prev_rank > 0 && r.lora_rank != prev_rank) ++s.rank_changes;
      s.rank_min = s.rank_min == 0 ? r.lora_rank : std::min(s.rank_min, r.lora_rank);
      s.rank_max = std::max(s.rank_max, r.lora_rank);
      prev_rank = r.lora_rank;
    }
    if (r.threads > 0) {
      if (prev_threads > 0 && r.threads != prev_threads) ++s.thread_changes;
      s.threads_min = s.threads_min == 0 ? r.threads : std::min(s.threads_min, r.threads);
      s.threads_max = std::max(s.threads_max, r.threads);
      prev_threads = r.threads;
    }
    if (!std::isnan(r.val_loss) && (std::isnan(s.best_val_loss) || r.val_loss < s.best_val_loss)) {
      s.best_val_loss = r.val_loss;
      s.best_val_step = step;
      s.best_val_time_s = r.time_s;
    }
    last_time = std::max(last_time, r.time_s);
  }
  for (const SampleRow& r : samples) {
    if (is_temp(r.temp_c)) temps.push_back({r.time_s, r.temp_c});
    last_time = std::max(last_time, r.time_s);
  }
  std::sort(temps.begin(), temps.end(), [](const TempPoint& a, const TempPoint& b) { return a.time_s < b.time_s; });
  for (size_t i = 0; i < temps.size(); ++i) {
    double t = temps[i].temp_c;
    s.temp_min_c = std::isnan(s.temp_min_c) ? t : std::min(s.temp_min_c, t);
    s.temp_max_c = std::isnan(s.temp_max_c) ? t : std::max(s.temp_max_c, t);
    double dt = i + 1 < temps.size() ? temps[i + 1].time_s - temps[i].time_s : 0;  // held until the next reading
    if (!std::isnan(s.run.temp_warn_c) && t > s.run.temp_warn_c) s.seconds_above_warn += dt;
    if (!std::isnan(s.run.temp_hot_c) && t > s.run.temp_hot_c) s.seconds_above_hot += dt;
    if (!std::isnan(s.run.temp_crit_c) && t > s.run.temp_crit_c) s.seconds_above_crit += dt;
  }
  // Every timestamp of the run in order, to find what happened just before an instant.
  std::vector<double> stamps;
  for (const StepRow& r : steps) stamps.push_back(r.record.time_s);
  for (const SampleRow& r : samples) stamps.push_back(r.time_s);
  for (const CheckpointRow& c : s.checkpoints) stamps.push_back(c.time_s);
  for (const EventRow& e : events) stamps.push_back(e.time_s);
  std::sort(stamps.begin(), stamps.end());
  auto last_before = [&](double t) {
    auto it = std::lower_bound(stamps.begin(), stamps.end(), t);
    return it == stamps.begin() ? s.run.started_s : *std::prev(it);
  };
  for (const EventRow& e : events) {
    if (is_pause_kind(e.kind)) ++s.pause_reasons[e.kind];
    if (is_problem_kind(e.kind)) s.problems.push_back(e);
    if (e.kind == "resume" && e.detail.find("new process") != std::string::npos) {
      // Nobody ran between the last sign of the previous process and this one's start.
      ++s.processes;
      s.downtime_s += std::max(0.0, e.time_s - std::max(last_before(e.time_s), s.run.started_s));
    }
    last_time = std::max(last_time, e.time_s);
  }
  // Checkpoint I/O: from the step it saves to its row; evaluation: from the step to its event.
  for (const CheckpointRow& c : s.checkpoints) {
    auto it = by_step.find(c.record.step);
    if (it != by_step.end() && c.time_s > it->second.time_s) s.checkpoint_s += c.time_s - it->second.time_s;
  }
  for (const EventRow& e : events) {
    long long step = 0;
    if (e.kind != "eval" || std::sscanf(e.detail.c_str(), "step %lld", &step) != 1) continue;
    auto it = by_step.find(step);
    if (it != by_step.end() && e.time_s > it->second.time_s) s.eval_s += e.time_s - it->second.time_s;
  }
  RunLiveness liveness = run_liveness(s.run, run_dir_of(reader.db_path()), common::SteadyClock().wall_s());
  s.status = liveness.status;
  s.status_text = describe_status(liveness);
  double end = !std::isnan(s.run.finished_s) ? s.run.finished_s
                                               : (!std::isnan(s.run.updated_s) ? std::max(s.run.updated_s, last_time)
                                                                                : last_time);
  s.elapsed_s = std::max(0.0, end - s.run.started_s);
  s.training_s = std::min(s.training_s, s.elapsed_s);
  // What is left after training, checkpoints, evaluation and downtime is pausing and waiting.
  double rest = s.elapsed_s - s.training_s;
  s.checkpoint_s = std::min(s.checkpoint_s, rest);
  s.eval_s = std::min(s.eval_s, rest - s.checkpoint_s);
  s.downtime_s = std::min(s.downtime_s, rest - s.checkpoint_s - s.eval_s);
  s.paused_s = rest - s.checkpoint_s - s.eval_s - s.downtime_s;
  return s;
}

std::string render_summary_text(const RunSummary& s) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += fmt::format("{:<22}{}\n", k, v); };
  const std::string status = s.status_text.empty() ? s.run.status : s.status_text;
  line("run", fmt::format("{} (#{}, {})", s.run.name, s.run.id, status));
  line("model", s.run.model.empty() ? "--" : s.run.model);
  line("steps", s.run.total_steps <= 0           ? fmt::format("{}", s.last_step)
                : s.last_step <= s.run.total_steps ? fmt::format("{} of {}", s.last_step, s.run.total_steps)
                                                   : fmt::format("{} (planned {})", s.last_step, s.run.total_steps));
  line("tokens trained", common::format_count(double(s.tokens)) +
                             (s.processes > 1 ? fmt::format(" (by {} processes)", s.processes) : ""));
  line("elapsed", common::format_duration(s.elapsed_s));
  auto share = [&](double v) {
    return fmt::format("{} ({:.0f}%)", common::format_duration(v), s.elapsed_s > 0 ? 100.0 * v / s.elapsed_s : 0.0);
  };
  line("training", share(s.training_s));
  if (!s.checkpoints.empty()) {
    line("checkpoint I/O", share(s.checkpoint_s) + fmt::format(" ({} checkpoints written)", s.checkpoints.size()));
  }
  if (s.eval_s > 0) line("evaluation", share(s.eval_s));
  if (s.processes > 1) {
    line("downtime", share(s.downtime_s) + fmt::format(" (no process running; {} restart{})", s.processes - 1,
                                                       s.processes > 2 ? "s" : ""));
  }
  std::string reasons;
  for (const auto& [kind, n] : s.pause_reasons) reasons += fmt::format("{}{} x{}", reasons.empty() ? "" : ", ", kind, n);
  line("paused / waiting", share(s.paused_s) + (reasons.empty() ? "" : " (" + reasons + ")"));
  line("temperature", fmt::format("min {}  max {}", fmt_temp(s.temp_min_c), fmt_temp(s.temp_max_c)));
  if (!std::isnan(s.run.temp_warn_c)) {
    line("time above", fmt::format("shrink {:.0f} °C: {}  pause {:.0f} °C: {}  stop {:.0f} °C: {}", s.run.temp_warn_c,
                                   common::format_duration(s.seconds_above_warn), s.run.temp_hot_c,
                                   common::format_duration(s.seconds_above_hot), s.run.temp_crit_c,
                                   common::format_duration(s.seconds_above_crit)));
  }
  if (s.rank_max > 0) line("LoRA rank", fmt::format("{}..{}, {} changes", s.rank_min, s.rank_max, s.rank_changes));
  if (s.threads_max > 0) {
    line("threads", fmt::format("{}..{}, {} changes", s.threads_min, s.threads_max, s.thread_changes));
  }
  line("last train loss", fmt_loss(s.last_loss));
  line("best val loss", std::isnan(s.best_val_loss) ? "--"
                                                     : fmt::format("{} at step {}", fmt_loss(s.best_val_loss),
                                                                   s.best_val_step));
  line("checkpoints", s.checkpoints.empty() ? "none"
                                            : fmt::format("{}, last at step {}: {}", s.checkpoints.size(),
                                                          s.checkpoints.back().record.step,
                                                          s.checkpoints.back().record.path));
  line("errors / warnings", fmt::format("{}", s.problems.size()));
  for (size_t i = 0; i < s.problems.size() && i < 10; ++i) {
    out += fmt::format("  {}: {}\n", s.problems[i].kind, s.problems[i].detail);
  }
  return out;
}

std::string render_summary_json(const RunSummary& s) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json j;
  j["run_id"] = s.run.id;
  j["name"] = s.run.name;
  j["status"] = s.status.empty() ? s.run.status : s.status;
  j["status_text"] = s.status_text.empty() ? s.run.status : s.status_text;
  j["processes"] = s.processes;
  j["model"] = s.run.model;
  j["steps"] = s.last_step;
  j["total_steps"] = s.run.total_steps;
  j["tokens"] = s.tokens;
  j["elapsed_s"] = s.elapsed_s;
  j["training_s"] = s.training_s;
  j["checkpoint_s"] = s.checkpoint_s;
  j["eval_s"] = s.eval_s;
  j["downtime_s"] = s.downtime_s;
  j["paused_s"] = s.paused_s;
  j["pause_reasons"] = s.pause_reasons;
  j["temp_min_c"] = num(s.temp_min_c);
  j["temp_max_c"] = num(s.temp_max_c);
  j["seconds_above"] = {{"shrink", s.seconds_above_warn}, {"pause", s.seconds_above_hot}, {"stop", s.seconds_above_crit}};
  j["rank_changes"] = s.rank_changes;
  j["thread_changes"] = s.thread_changes;
  j["last_loss"] = num(s.last_loss);
  j["best_val_loss"] = num(s.best_val_loss);
  j["best_val_step"] = s.best_val_step;
  nlohmann::json cks = nlohmann::json::array();
  for (const CheckpointRow& c : s.checkpoints) cks.push_back({{"step", c.record.step}, {"path", c.record.path}});
  j["checkpoints"] = cks;
  nlohmann::json probs = nlohmann::json::array();
  for (const EventRow& e : s.problems) probs.push_back({{"kind", e.kind}, {"detail", e.detail}, {"time", e.time_s}});
  j["problems"] = probs;
  return j.dump(2) + "\n";
}

}  // namespace app
