// Builds the dashboard's snapshot (tui::DashboardModel) from a run log. Incremental: each
// refresh reads only the rows written since the last one (by rowid) inside one read snapshot, so
// `top` can refresh several times a second on a long run without loading the trainer. Used by
// `nightshift top` and by in-process dashboards (it reads the log through its own read-only
// connection, so it can run on the dashboard's thread while the trainer writes).
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "app/runlog/run_log.h"
#include "common/status.h"
#include "tui/dashboard_model.h"

namespace app {

struct DashboardBuilderOptions {
  int64_t run_id = -1;              // -1: the newest run (switches when a newer run starts)
  std::string run_dir_name;         // shown when the run has no name
  size_t max_plot_points = 1500;    // per plotted series (min/max decimated)
  size_t recent_steps = 300;        // knob and tokens/s series length
  size_t recent_events = 40;
  size_t governor_decisions = 12;
  size_t eta_window_steps = 50;     // steps used for the speed behind the ETA
  double stale_after_s = 30;        // no write for this long: the trainer is shown as gone
};

class DashboardModelBuilder {
 public:
  // `reader` must outlive the builder; both are used from one thread.
  DashboardModelBuilder(RunLogReader& reader, DashboardBuilderOptions options = {});
  DashboardModelBuilder(const DashboardModelBuilder&) = delete;
  DashboardModelBuilder& operator=(const DashboardModelBuilder&) = delete;

  // Read what is new and return a full snapshot. `now_wall_s` (seconds since the epoch) drives
  // elapsed time and staleness. Errors: NotFound while the log has no run yet; read errors of
  // the log (Corruption, Unavailable) as returned by the reader.
  common::Result<tui::DashboardModel> refresh(double now_wall_s);

 private:
  void reset(int64_t run_id);
  void truncate_from(int64_t step);
  tui::DashboardModel build(const RunRow& run, double now_wall_s, int pending) const;
  // The fields that move with the clock alone: elapsed, staleness, the "no word" notice.
  void apply_time(tui::DashboardModel& m, const RunRow& run, double now_wall_s) const;

  RunLogReader& reader_;
  DashboardBuilderOptions options_;
  int64_t run_id_ = 0;
  int64_t last_step_rowid_ = 0;
  int64_t last_event_id_ = 0;
  int64_t last_sample_id_ = 0;
  // Full histories, one entry per step row in step order.
  std::vector<double> step_, time_, loss_, val_loss_, lr_, tokens_per_s_, trained_tokens_per_s_, temp_c_, rank_, threads_, duty_;
  std::vector<uint64_t> rss_, planned_, tokens_;
  std::string governor_;
  double disk_read_ = kNullReal, major_faults_ = kNullReal;  // the last step's disk reads per second
  std::vector<double> sample_time_, sample_temp_;
  uint64_t sample_rss_ = 0;
  double sample_rss_time_ = 0;
  std::deque<EventRow> events_, decisions_;
  // The last snapshot and the data_version it was read at.
  std::optional<tui::DashboardModel> cached_;
  RunRow cached_run_;
  int64_t cached_version_ = -1;
};

// ControlKind for a dashboard command; nullopt for kDetach (nothing to ask the trainer).
std::optional<ControlKind> control_for(tui::Command command);

}  // namespace app
