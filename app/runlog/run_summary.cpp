// Computing and rendering the summary of a run from its log.
#include "app/runlog/run_summary.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "common/units.h"

namespace app {

namespace {

// Event kinds that mean "not training for a while", counted as pause reasons.
constexpr const char* kPauseKinds[] = {"pause", "paused", "cooldown", "thermal_pause", "wait_window", "battery",
                                       "memory_pause", "checkpoint_and_wait"};

bool is_pause_kind(const std::string& kind) {
  return std::any_of(std::begin(kPauseKinds), std::end(kPauseKinds), [&](const char* k) { return kind == k; });
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

  std::vector<TempPoint> temps;
  uint64_t prev_tokens = 0;
  int prev_rank = -1, prev_threads = -1;
  double last_time = s.run.started_s;
  for (const auto& [step, r] : by_step) {
    s.last_step = step;
    s.tokens = std::max(s.tokens, r.tokens);
    if (!std::isnan(r.loss)) s.last_loss = r.loss;
    if (r.tokens > prev_tokens && r.tokens_per_s > 0) s.training_s += double(r.tokens - prev_tokens) / r.tokens_per_s;
    prev_tokens = r.tokens;
    if (!std::isnan(r.temp_c)) temps.push_back({r.time_s, r.temp_c});
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
    if (!std::isnan(r.temp_c)) temps.push_back({r.time_s, r.temp_c});
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
  for (const EventRow& e : events) {
    if (is_pause_kind(e.kind)) ++s.pause_reasons[e.kind];
    if (e.kind == "error" || e.kind == "warning") s.problems.push_back(e);
    last_time = std::max(last_time, e.time_s);
  }
  double end = !std::isnan(s.run.finished_s) ? s.run.finished_s
                                               : (!std::isnan(s.run.updated_s) ? std::max(s.run.updated_s, last_time)
                                                                                : last_time);
  s.elapsed_s = std::max(0.0, end - s.run.started_s);
  s.training_s = std::min(s.training_s, s.elapsed_s);
  s.paused_s = s.elapsed_s - s.training_s;
  return s;
}

std::string render_summary_text(const RunSummary& s) {
  std::string out;
  auto line = [&](const std::string& k, const std::string& v) { out += fmt::format("{:<22}{}\n", k, v); };
  line("run", fmt::format("{} (#{}, {})", s.run.name, s.run.id, s.run.status));
  line("model", s.run.model.empty() ? "--" : s.run.model);
  line("steps", s.run.total_steps > 0 ? fmt::format("{} of {}", s.last_step, s.run.total_steps)
                                      : fmt::format("{}", s.last_step));
  line("tokens trained", common::format_count(double(s.tokens)));
  line("elapsed", common::format_duration(s.elapsed_s));
  double frac = s.elapsed_s > 0 ? 100.0 * s.training_s / s.elapsed_s : 0;
  line("training", fmt::format("{} ({:.0f}%)", common::format_duration(s.training_s), frac));
  std::string reasons;
  for (const auto& [kind, n] : s.pause_reasons) reasons += fmt::format("{}{} x{}", reasons.empty() ? "" : ", ", kind, n);
  line("paused / waiting", fmt::format("{}{}", common::format_duration(s.paused_s),
                                       reasons.empty() ? "" : " (" + reasons + ")"));
  line("temperature", fmt::format("min {}  max {}", fmt_temp(s.temp_min_c), fmt_temp(s.temp_max_c)));
  if (!std::isnan(s.run.temp_warn_c)) {
    line("time above", fmt::format("{:.0f} °C: {}  {:.0f} °C: {}  {:.0f} °C: {}", s.run.temp_warn_c,
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
  for (size_t i = 0; i < s.problems.size() && i < 5; ++i) {
    out += fmt::format("  {}: {}\n", s.problems[i].kind, s.problems[i].detail);
  }
  return out;
}

std::string render_summary_json(const RunSummary& s) {
  auto num = [](double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); };
  nlohmann::json j;
  j["run_id"] = s.run.id;
  j["name"] = s.run.name;
  j["status"] = s.run.status;
  j["model"] = s.run.model;
  j["steps"] = s.last_step;
  j["total_steps"] = s.run.total_steps;
  j["tokens"] = s.tokens;
  j["elapsed_s"] = s.elapsed_s;
  j["training_s"] = s.training_s;
  j["paused_s"] = s.paused_s;
  j["pause_reasons"] = s.pause_reasons;
  j["temp_min_c"] = num(s.temp_min_c);
  j["temp_max_c"] = num(s.temp_max_c);
  j["seconds_above"] = {{"warn", s.seconds_above_warn}, {"hot", s.seconds_above_hot}, {"crit", s.seconds_above_crit}};
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
