// Incremental reading of the run log into dashboard snapshots: cached histories per run, rewinds
// when steps are rewritten after a resume, ETA from the recent step rate, staleness from the
// trainer's heartbeat.
#include "app/loop/dashboard_model_builder.h"

#include <algorithm>
#include <cmath>

#include "app/runlog/run_liveness.h"
#include "common/units.h"
#include "tui/series.h"

namespace app {
namespace {

bool final_status(const std::string& status) {
  return status == "finished" || status == "stopped" || status == "failed" || status == "interrupted";
}

tui::TimedText timed(const EventRow& e) { return {e.time_s, e.kind, e.detail}; }

}  // namespace

std::optional<ControlKind> control_for(tui::Command command) {
  switch (command) {
    case tui::Command::kPause: return ControlKind::kPause;
    case tui::Command::kResume: return ControlKind::kResume;
    case tui::Command::kCheckpoint: return ControlKind::kCheckpoint;
    case tui::Command::kQuit: return ControlKind::kStop;
    case tui::Command::kDetach: return std::nullopt;
  }
  return std::nullopt;
}

DashboardModelBuilder::DashboardModelBuilder(RunLogReader& reader, DashboardBuilderOptions options)
    : reader_(reader), options_(std::move(options)) {}

void DashboardModelBuilder::reset(int64_t run_id) {
  run_id_ = run_id;
  last_step_rowid_ = last_event_id_ = last_sample_id_ = 0;
  for (auto* v : {&step_, &time_, &loss_, &val_loss_, &lr_, &tokens_per_s_, &trained_tokens_per_s_, &temp_c_, &rank_, &threads_, &duty_}) v->clear();
  rss_.clear();
  planned_.clear();
  tokens_.clear();
  governor_.clear();
  disk_read_ = major_faults_ = kNullReal;
  sample_time_.clear();
  sample_temp_.clear();
  sample_rss_ = 0;
  sample_rss_time_ = 0;
  events_.clear();
  decisions_.clear();
}

// A step at or before what we hold was rewritten (resume from a checkpoint): drop from there on.
void DashboardModelBuilder::truncate_from(int64_t step) {
  size_t keep = static_cast<size_t>(std::lower_bound(step_.begin(), step_.end(), static_cast<double>(step)) - step_.begin());
  for (auto* v : {&step_, &time_, &loss_, &val_loss_, &lr_, &tokens_per_s_, &trained_tokens_per_s_, &temp_c_, &rank_, &threads_, &duty_}) v->resize(keep);
  rss_.resize(keep);
  planned_.resize(keep);
  tokens_.resize(keep);
}

common::Result<tui::DashboardModel> DashboardModelBuilder::refresh(double now_wall_s) {
  // Nothing committed since the last refresh: only the clock moved.
  NS_ASSIGN_OR_RETURN(int64_t version, reader_.data_version());
  if (cached_ && version == cached_version_) {
    tui::DashboardModel m = *cached_;
    apply_time(m, cached_run_, now_wall_s);
    return m;
  }
  NS_RETURN_IF_ERROR(reader_.begin_snapshot());
  struct EndSnapshot {
    RunLogReader& r;
    ~EndSnapshot() { r.end_snapshot(); }
  } end{reader_};
  NS_ASSIGN_OR_RETURN(RunRow run, options_.run_id >= 0 ? reader_.run(options_.run_id) : reader_.latest_run());
  if (run.id != run_id_) reset(run.id);

  NS_ASSIGN_OR_RETURN(std::vector<StepRow> steps, reader_.steps(run_id_, last_step_rowid_));
  for (const StepRow& row : steps) {
    const StepRecord& s = row.record;
    last_step_rowid_ = row.rowid;
    if (!step_.empty() && static_cast<double>(s.step) <= step_.back()) truncate_from(s.step);
    step_.push_back(static_cast<double>(s.step));
    time_.push_back(s.time_s);
    loss_.push_back(s.loss);
    val_loss_.push_back(s.val_loss);
    lr_.push_back(s.lr);
    tokens_per_s_.push_back(s.tokens_per_s);
    trained_tokens_per_s_.push_back(s.trained_tokens_per_s);
    temp_c_.push_back(s.temp_c);
    rank_.push_back(s.lora_rank);
    threads_.push_back(s.threads);
    duty_.push_back(s.duty);
    rss_.push_back(s.rss_bytes);
    planned_.push_back(s.planned_bytes);
    tokens_.push_back(s.tokens);
    governor_ = s.governor;
    disk_read_ = s.disk_read_bytes_per_s;
    major_faults_ = s.major_faults_per_s;
  }
  NS_ASSIGN_OR_RETURN(std::vector<EventRow> events, reader_.events(run_id_, last_event_id_));
  for (EventRow& e : events) {
    last_event_id_ = e.id;
    if (e.kind == "governor") {
      decisions_.push_back(e);
      if (decisions_.size() > options_.governor_decisions) decisions_.pop_front();
    }
    events_.push_back(std::move(e));
    if (events_.size() > options_.recent_events) events_.pop_front();
  }
  NS_ASSIGN_OR_RETURN(std::vector<SampleRow> samples, reader_.samples(run_id_, last_sample_id_));
  for (const SampleRow& s : samples) {
    last_sample_id_ = s.id;
    if (!std::isnan(s.temp_c)) {
      sample_time_.push_back(s.time_s);
      sample_temp_.push_back(s.temp_c);
    }
    if (s.rss_bytes) {
      sample_rss_ = s.rss_bytes;
      sample_rss_time_ = s.time_s;
    }
  }
  NS_ASSIGN_OR_RETURN(std::vector<ControlRow> pending, reader_.control(true));
  tui::DashboardModel m = build(run, now_wall_s, static_cast<int>(pending.size()));
  cached_ = m;
  cached_run_ = run;
  cached_version_ = version;
  return m;
}

void DashboardModelBuilder::apply_time(tui::DashboardModel& m, const RunRow& run, double now) const {
  double updated = std::isnan(run.updated_s) ? (time_.empty() ? run.started_s : time_.back()) : run.updated_s;
  m.seconds_since_update = std::max(0.0, now - updated);
  // A trainer is gone when it has been silent for much longer than a step takes.
  double step_period_s = 0;
  if (step_.size() >= 2) {
    size_t a = step_.size() > options_.eta_window_steps ? step_.size() - options_.eta_window_steps : 0;
    double ds = step_.back() - step_[a];
    if (ds > 0) step_period_s = (time_.back() - time_[a]) / ds;
  }
  m.live = !m.finished && m.seconds_since_update < std::max(options_.stale_after_s, 3 * step_period_s);
  m.notice.clear();
  // A silent trainer whose writer lock is free is gone: the run stopped at its last heartbeat.
  RunLiveness liveness = m.finished ? RunLiveness{} : run_liveness(run, run_dir_of(reader_.db_path()), now,
                                                                   options_.stale_after_s);
  if (liveness.gone) {
    m.status = "stopped";
    m.paused = false;
    m.finished = true;
    m.live = false;
    m.eta_s = tui::kUnknown;
    m.notice = gone_text(liveness);
  }
  double end = m.finished ? (std::isnan(run.finished_s) ? updated : run.finished_s) : (m.live ? now : updated);
  m.elapsed_s = std::max(0.0, end - run.started_s);
  if (!m.live && !m.finished) {
    m.notice = "no word from the trainer for " + common::format_duration(m.seconds_since_update);
  }
}

tui::DashboardModel DashboardModelBuilder::build(const RunRow& run, double now, int pending) const {
  tui::DashboardModel m;
  m.run_name = run.name.empty() ? options_.run_dir_name : run.name;
  m.status = run.status;
  m.model = run.model;
  m.profile = run.profile;
  m.paused = run.status == "paused";
  m.finished = !std::isnan(run.finished_s) || final_status(run.status);
  apply_time(m, run, now);
  m.total_steps = run.total_steps;
  m.temp_warn_c = run.temp_warn_c;
  m.temp_hot_c = run.temp_hot_c;
  m.temp_crit_c = run.temp_crit_c;
  m.budget_bytes = run.budget_bytes;
  m.pending_commands = pending;
  m.governor_state = governor_;
  for (const EventRow& e : decisions_) m.governor_decisions.push_back(timed(e));
  for (const EventRow& e : events_) m.events.push_back(timed(e));

  const size_t n = step_.size();
  if (n > 0) {
    size_t last = n - 1;
    m.step = static_cast<int64_t>(step_[last]);
    m.tokens = tokens_[last];
    m.loss = loss_[last];
    m.lr = lr_[last];
    m.tokens_per_s = tokens_per_s_[last];
    m.trained_tokens_per_s = trained_tokens_per_s_[last];
    m.temp_c = temp_c_[last];
    m.lora_rank = static_cast<int>(rank_[last]);
    m.threads = static_cast<int>(threads_[last]);
    m.duty = duty_[last];
    m.rss_bytes = rss_[last];
    m.planned_bytes = planned_[last];
    m.disk_read_bytes_per_s = disk_read_;
    m.major_faults_per_s = major_faults_;
    for (size_t i = n; i-- > 0;) {
      if (!std::isnan(val_loss_[i])) {
        m.val_loss = val_loss_[i];
        break;
      }
    }
    // ETA from the pace of the last steps (pauses included: it is wall-clock time that matters).
    size_t first = n > options_.eta_window_steps ? n - options_.eta_window_steps : 0;
    double dsteps = step_[last] - step_[first], dt = time_[last] - time_[first];
    if (m.total_steps > 0 && dsteps > 0 && dt > 0 && !m.finished) {
      m.eta_s = std::max(0.0, static_cast<double>(m.total_steps) - step_[last]) * dt / dsteps;
    }
    tui::decimate_minmax(step_, loss_, options_.max_plot_points, m.loss_steps, m.loss_values);
    std::vector<double> vx, vy;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isnan(val_loss_[i])) {
        vx.push_back(step_[i]);
        vy.push_back(val_loss_[i]);
      }
    }
    tui::decimate_minmax(vx, vy, options_.max_plot_points, m.val_steps, m.val_values);
    m.rank_series = tui::tail(rank_, options_.recent_steps);
    m.threads_series = tui::tail(threads_, options_.recent_steps);
    m.duty_series = tui::tail(duty_, options_.recent_steps);
    m.tokens_per_s_series = tui::tail(tokens_per_s_, options_.recent_steps);
  }
  // Temperature: step readings and pause-time samples, both already in time order, merged.
  std::vector<double> tx, ty;
  tx.reserve(n + sample_time_.size());
  ty.reserve(n + sample_time_.size());
  size_t a = 0, b = 0;
  while (a < n || b < sample_time_.size()) {
    if (a < n && std::isnan(temp_c_[a])) {
      ++a;
      continue;
    }
    bool from_steps = b >= sample_time_.size() || (a < n && time_[a] <= sample_time_[b]);
    tx.push_back((from_steps ? time_[a] : sample_time_[b]) - run.started_s);
    ty.push_back(from_steps ? temp_c_[a++] : sample_temp_[b++]);
  }
  tui::decimate_minmax(tx, ty, options_.max_plot_points, m.temp_time_s, m.temp_values_c);
  if (!ty.empty()) m.temp_c = ty.back();  // a pause-time sample may be newer than the last step
  if (sample_rss_ && (n == 0 || sample_rss_time_ > time_.back())) m.rss_bytes = sample_rss_;
  return m;
}

}  // namespace app
