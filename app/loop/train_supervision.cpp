// Supervision: the governors and observers around a `nightshift train` run (train_supervision.h).
#include "app/loop/train_supervision.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "app/loop/dashboard_model_builder.h"
#include "app/loop/disk_reads.h"
#include "app/governors/run_conditions.h"
#include "app/runlog/run_log.h"
#include "app/runlog/run_log_observer.h"
#include "app/governors/thermal_setup.h"
#include "app/governors/thermal_step_governor.h"
#include "budget/fit.h"
#include "budget/planner.h"
#include "budget/report.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/units.h"
#include "profiles/loader.h"
#include "thermal/governor.h"
#include "tui/dashboard.h"

namespace app {

using common::Result;
using common::Status;

namespace {

uint64_t read_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
  }
  return 0;
}

std::string dir_name(const std::string& dir) {
  std::filesystem::path p(dir);
  if (p.filename().empty()) p = p.parent_path();
  return p.filename().string();
}

}  // namespace

Result<SupervisionPlan> plan_supervision(const SupervisionFlags& flags, RunConfig* run,
                                         std::optional<GradCheckpoint> fit) {
  const RunConfig& config = *run;
  SupervisionPlan plan;
  plan.flags = flags;
  if (flags.resume != "auto" && flags.resume != "never") {
    return Status::InvalidArgument("--resume: '" + flags.resume + "' (expected auto or never)");
  }
  if (flags.at_window_end != "wait" && flags.at_window_end != "stop") {
    return Status::InvalidArgument("--at-window-end: '" + flags.at_window_end + "' (expected wait or stop)");
  }
  BatteryPolicy battery;
  if (!parse_battery_policy(flags.on_battery, &battery)) {
    return Status::InvalidArgument("--on-battery: '" + flags.on_battery + "' (expected ignore, pause or stop)");
  }
  if (flags.tui && flags.headless) return Status::InvalidArgument("--tui and --headless exclude each other");
  if (!flags.until.empty()) NS_RETURN_IF_ERROR(parse_time_of_day(flags.until, "--until").status());
  if (!flags.window.empty()) NS_RETURN_IF_ERROR(parse_daily_window(flags.window).status());
  NS_ASSIGN_OR_RETURN(ThermalSourceSpec spec, parse_thermal_source(flags.thermal));
  NS_RETURN_IF_ERROR(thermal::parse_fail_safe(flags.fail_safe).status());
  if (!flags.thermal_policy.empty()) NS_RETURN_IF_ERROR(thermal::parse_policy(flags.thermal_policy).status());

  auto profile = profiles::find_profile(flags.profile);
  if (!profile.ok()) return Status::InvalidArgument("--profile: " + profile.status().message());
  plan.profile = *profile;

  if (spec.kind == ThermalSourceSpec::Kind::kReplay || spec.kind == ThermalSourceSpec::Kind::kLibsensors) {
    common::SteadyClock probe_clock;  // a malformed replay file or a missing sensor is bad input
    NS_RETURN_IF_ERROR(open_thermal_source(spec, plan.profile, flags.sensors, probe_clock).status());
  }
  thermal::GovernorConfig& gov = plan.governor;
  gov = governor_config_from_profile(plan.profile.thermal);
  if (!flags.thermal_policy.empty()) gov.policy = *thermal::parse_policy(flags.thermal_policy);
  gov.fail_safe = *thermal::parse_fail_safe(flags.fail_safe);
  if (flags.shrink_c) gov.shrink_c = *flags.shrink_c;
  if (flags.pause_c) gov.pause_c = *flags.pause_c;
  if (flags.stop_c) gov.stop_c = *flags.stop_c;
  if (flags.resume_c) gov.resume_c = *flags.resume_c;
  if (flags.setpoint_c) gov.setpoint_c = *flags.setpoint_c;
  NS_RETURN_IF_ERROR(gov.validate());
  if (!flags.memory_low_water.empty()) {
    NS_RETURN_IF_ERROR(parse_byte_size(flags.memory_low_water, "--memory-low-water").status());
  }
  if (!flags.memory_limit.empty()) {
    NS_ASSIGN_OR_RETURN(plan.budget_bytes, parse_byte_size(flags.memory_limit, "--memory-limit"));
  } else {
    plan.budget_bytes = plan.profile.memory.available_bytes();
  }
  if (fit && !flags.no_memory_check) {
    NS_ASSIGN_OR_RETURN(plan.memory_fit, fit_run_to_budget(run, *fit, plan.budget_bytes));
  }
  auto memory_plan = budget::plan_training(config.model, config.shape, budget::Optimizer::kAdamW, plan.budget_bytes);
  if (memory_plan.ok()) {
    plan.planned_bytes = memory_plan->total_bytes;
    plan.streamed_base_bytes = memory_plan->streamed_base_bytes;
    const uint64_t per_batch = memory_plan->item_bytes("activations") + memory_plan->item_bytes("scratch");
    plan.activation_bytes_per_sequence = per_batch / std::max(1, config.shape.batch);
    plan.plan_table = budget::render_plan_table(*memory_plan);
    Status fits = budget::check_fits(*memory_plan, plan.budget_bytes);
    if (!fits.ok() && !flags.no_memory_check) {
      plan.refusal = fits.message();
      // A base read from its file need not be resident: say so when streaming it would fit.
      const trainer::LoraSettings& l = config.shape.lora;
      if (l.mapped_base && l.mapped_encoding.empty() && !l.stream_base &&
          memory_plan->total_bytes - l.mapped_bytes <= plan.budget_bytes) {
        plan.refusal += fmt::format(
            "\n(the frozen base, {} of the plan, is read from its file: with --stream-base the page cache keeps what "
            "fits and the rest is read from disk every step, slower but within the budget)",
            common::format_bytes(l.mapped_bytes));
      }
    }
  } else if (!flags.no_memory_check) {
    // Without a plan the memory check would be off: refuse rather than train unchecked.
    plan.refusal = "no memory plan for this run: " + memory_plan.status().message() +
                   "\n(the memory check cannot cover it; --no-memory-check trains anyway)";
  } else {
    common::log_warning("no memory plan for this run (--no-memory-check): " + memory_plan.status().message());
  }
  return plan;
}

struct Supervision::Impl {
  // Tracks the adapters' rank for the run log's lora_rank column. (A member type: a type of this
  // file's anonymous namespace would give Impl internal parts, which GCC warns about in unity builds.)
  class RankTracker final : public LoopObserver {
   public:
    explicit RankTracker(int rank) : rank(rank) {}
    void on_lora_rank(int64_t, const trainer::LoraRankReport& change) override { rank = change.new_rank; }
    int rank;
  };

  SupervisionPlan plan;
  std::string run_dir;
  common::Clock* clock = nullptr;
  std::unique_ptr<RunLog> log;
  std::unique_ptr<ScaledClock> thermal_clock;
  std::unique_ptr<ThermalStepGovernor> thermal;
  std::unique_ptr<ConditionsGovernor> conditions;
  std::unique_ptr<ControlGovernor> control;
  std::unique_ptr<RunLogObserver> log_observer;
  std::unique_ptr<StderrProgress> progress;
  std::unique_ptr<RankTracker> rank;
  DiskReadRate disk_reads;  // per logged step: what the page cache could not hold (a streamed base)
  tui::CommandQueue commands;
  std::thread dashboard;
  std::atomic<bool> stop_dashboard{false};
  std::optional<Result<tui::DashboardExit>> dashboard_exit;
  common::LogFn previous_sink;
  bool sink_swapped = false;

  void event(const std::string& kind, const std::string& detail) { log->append_event(kind, detail); }
};

Supervision::Supervision(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Supervision::~Supervision() {
  if (impl_->dashboard.joinable()) {
    impl_->stop_dashboard.store(true);
    impl_->dashboard.join();
  }
  if (impl_->sink_swapped) common::set_log_sink(impl_->previous_sink);
}

Result<std::unique_ptr<Supervision>> Supervision::start(const SupervisionPlan& plan, const RunConfig& config,
                                                        const std::string& run_json, int lora_rank,
                                                        uint64_t checkpoint_bytes, bool resuming,
                                                        common::Clock& clock) {
  auto impl = std::make_unique<Impl>();
  Impl& s = *impl;
  s.plan = plan;
  s.run_dir = config.out_dir;
  s.clock = &clock;
  const SupervisionFlags& f = plan.flags;

  // The run log: continue the newest run of this directory on resume, else a new run row.
  NS_ASSIGN_OR_RETURN(s.log, RunLog::open(config.out_dir, {}, &clock));
  std::optional<int64_t> previous;
  if (resuming) {
    auto reader = RunLogReader::open(config.out_dir);
    if (reader.ok()) {
      auto latest = (*reader)->latest_run();
      if (latest.ok()) previous = latest->id;
    }
  }
  const thermal::GovernorConfig& gov = plan.governor;
  if (previous) {
    NS_RETURN_IF_ERROR(s.log->continue_run(*previous));
    s.log->append_event("resume", "resumed by a new process");
  } else {
    RunStart start;
    start.name = f.name.empty() ? dir_name(config.out_dir) : f.name;
    start.config_json = run_json;
    start.profile = plan.profile.name;
    start.model = config.model_source;
    start.total_steps = config.train.steps;
    start.budget_bytes = plan.budget_bytes;
    start.temp_warn_c = gov.shrink_c;
    start.temp_hot_c = gov.pause_c;
    start.temp_crit_c = gov.stop_c;
    NS_RETURN_IF_ERROR(s.log->begin_run(start).status());
    s.log->append_event("start", fmt::format("{} for {} steps, planned {:.1f} MiB of a {:.1f} MiB budget",
                                             config.model_source, config.train.steps, plan.planned_bytes / 1048576.0,
                                             plan.budget_bytes / 1048576.0));
    if (!plan.memory_fit.empty()) s.log->append_event("memory_fit", plan.memory_fit);
  }
  // Warnings go to the log too (and to stderr unless the dashboard owns the terminal).
  Impl* self = &s;
  const bool tui = f.tui;
  s.previous_sink = common::set_log_sink([self, tui](common::LogLevel level, const std::string& message) {
    if (level >= common::LogLevel::kWarning) self->log->append_event(level == common::LogLevel::kError ? "error" : "warning", message);
    if (!tui && level >= common::LogLevel::kInfo) std::fprintf(stderr, "[%s] %s\n", common::log_level_name(level), message.c_str());
  });
  s.sink_swapped = true;

  // The thermal governor.
  NS_ASSIGN_OR_RETURN(ThermalSourceSpec spec, parse_thermal_source(f.thermal));
  common::Clock* tclock = &clock;
  const bool virtual_time = spec.kind == ThermalSourceSpec::Kind::kSim || spec.kind == ThermalSourceSpec::Kind::kReplay;
  if (virtual_time && f.sim_speed != 1.0) {
    s.thermal_clock = std::make_unique<ScaledClock>(clock, f.sim_speed);
    tclock = s.thermal_clock.get();
  }
  NS_ASSIGN_OR_RETURN(OpenedSource source, open_thermal_source(spec, plan.profile, f.sensors, *tclock));
  if (!source.source) {
    if (spec.kind == ThermalSourceSpec::Kind::kAuto) common::log_warning("no thermal governor: " + source.note);
  } else {
    thermal::Knobs knobs;
    knobs.threads_max = std::max(1, config.train.threads > 0 ? config.train.threads
                                                             : static_cast<int>(std::thread::hardware_concurrency()));
    knobs.lora_rank_max = lora_rank;
    NS_ASSIGN_OR_RETURN(auto governor, thermal::Governor::create(gov, knobs, *tclock));
    const std::string described = source.source->describe();
    s.thermal = std::make_unique<ThermalStepGovernor>(std::move(source.source), source.plant, std::move(governor),
                                                      s.thermal_clock ? f.sim_speed : 1.0,
                                                      [self](const std::string& k, const std::string& d) { self->event(k, d); });
    s.log->append_event("thermal", fmt::format("governing by {} ({} policy: shrink {:.0f}, pause {:.0f}, stop {:.0f} °C)",
                                               described, thermal::policy_name(gov.policy), gov.shrink_c, gov.pause_c,
                                               gov.stop_c));
  }

  // The night's conditions.
  ConditionsOptions co;
  if (!f.until.empty() || f.max_hours > 0 || !f.window.empty()) {
    RunWindowOptions w;
    if (!f.until.empty()) w.until = *parse_time_of_day(f.until, "--until");
    if (!f.window.empty()) w.window = *parse_daily_window(f.window);
    w.max_hours = f.max_hours;
    w.stop_at_window_end = f.at_window_end == "stop";
    w.utc_offset_s = local_utc_offset_s();
    co.window = w;
  }
  parse_battery_policy(f.on_battery, &co.on_battery);
  co.power_supply_root = f.power_supply_root;
  co.checkpoint_dir = config.out_dir;
  co.checkpoint_bytes = checkpoint_bytes;
  co.memory = MemoryWatchConfig{};
  if (!f.memory_low_water.empty()) co.memory->low_water_bytes = *parse_byte_size(f.memory_low_water, "--memory-low-water");
  co.batch = {config.shape.batch, config.train.accum};
  co.activation_bytes_per_sequence = plan.activation_bytes_per_sequence;
  s.conditions = std::make_unique<ConditionsGovernor>(co, s.thermal.get(), clock,
                                                      [self](const std::string& k, const std::string& d) { self->event(k, d); });
  s.control = std::make_unique<ControlGovernor>(*s.log, s.conditions.get(), f.tui ? &s.commands : nullptr, clock);
  s.control->set_sampler([self](double& temp_c, uint64_t& rss) {
    temp_c = self->thermal ? self->thermal->sample_temp_c() : kNullReal;
    rss = read_rss_bytes();
  });

  // Observers.
  s.rank = std::make_unique<Impl::RankTracker>(lora_rank);
  s.log_observer = std::make_unique<RunLogObserver>(*s.log);
  s.log_observer->set_enricher([self](StepRecord& r) {
    if (auto failure = self->log->take_failure()) {
      common::log_warning("the run log cannot be written (training goes on): " + failure->message());
    }
    r.rss_bytes = read_rss_bytes();
    const double now_s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    const DiskReadRate::Rates disk = self->disk_reads.sample(now_s);
    r.disk_read_bytes_per_s = std::isnan(disk.read_bytes_per_s) ? kNullReal : disk.read_bytes_per_s;
    r.major_faults_per_s = std::isnan(disk.major_faults_per_s) ? kNullReal : disk.major_faults_per_s;
    r.planned_bytes = self->plan.planned_bytes;
    r.lora_rank = self->rank->rank;
    if (self->thermal) {
      r.temp_c = self->thermal->last_temp_c();
      r.duty = self->thermal->last_decision().duty;
      r.governor = thermal::action_name(self->thermal->last_decision().action);
    } else {
      r.governor = "none";
    }
  });
  if (!f.tui) s.progress = std::make_unique<StderrProgress>(config.log_every, f.headless);
  return std::unique_ptr<Supervision>(new Supervision(std::move(impl)));
}

StepGovernor* Supervision::governor() { return impl_->control.get(); }

std::vector<LoopObserver*> Supervision::observers() {
  std::vector<LoopObserver*> out{impl_->rank.get(), impl_->log_observer.get()};
  if (impl_->progress) out.push_back(impl_->progress.get());
  return out;
}

Status Supervision::start_dashboard(std::atomic<bool>* stop) {
  Impl& s = *impl_;
  if (!s.plan.flags.tui) return Status::Ok();
  (void)s.log->flush(true);
  NS_ASSIGN_OR_RETURN(std::unique_ptr<RunLogReader> reader, RunLogReader::open(s.run_dir));
  std::shared_ptr<RunLogReader> shared(std::move(reader));
  s.dashboard = std::thread([&s, stop, shared] {
    DashboardBuilderOptions options;
    options.run_dir_name = dir_name(s.run_dir);
    DashboardModelBuilder builder(*shared, options);
    std::shared_ptr<const tui::DashboardModel> last;
    tui::SnapshotFn sample = [&]() -> std::shared_ptr<const tui::DashboardModel> {
      auto m = builder.refresh(common::wall_now_s());
      if (m.ok()) last = std::make_shared<const tui::DashboardModel>(std::move(m).value());
      return last;
    };
    tui::DashboardOptions dash;
    dash.handle_interrupt_signals = false;  // train's own handlers checkpoint and stop
    s.dashboard_exit = tui::run_dashboard(sample, s.commands, dash, &s.stop_dashboard);
    stop->store(true);  // the dashboard was closed: checkpoint and end the run
  });
  return Status::Ok();
}

Status Supervision::finish(const Status& loop_status, bool interrupted) {
  Impl& s = *impl_;
  if (!loop_status.ok()) {
    s.log->append_event("error", loop_status.message());
    (void)s.log->finish_run(RunStatus::kFailed);
  } else if (interrupted) {
    (void)s.log->finish_run(RunStatus::kInterrupted);
  }
  (void)s.log->flush(true);
  if (s.dashboard.joinable()) {
    s.stop_dashboard.store(true);
    s.dashboard.join();
  }
  if (s.sink_swapped) {
    common::set_log_sink(s.previous_sink);
    s.sink_swapped = false;
  }
  if (auto failure = s.log->take_failure()) {
    std::fprintf(stderr, "nightshift: warning: the run log could not be written: %s\n", failure->message().c_str());
  }
  if (s.dashboard_exit && !s.dashboard_exit->ok()) return s.dashboard_exit->status();
  return Status::Ok();
}

}  // namespace app
