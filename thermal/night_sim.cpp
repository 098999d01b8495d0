// The simulated night loop and the analytic ideal (see night_sim.h).
#include "thermal/night_sim.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "common/clock.h"
#include "thermal/governor.h"

namespace thermal {

common::Status WorkloadModel::validate() const {
  auto bad = [](const std::string& m) { return common::Status::InvalidArgument(m); };
  if (!(step_s > 0) || !std::isfinite(step_s)) return bad(fmt::format("workload step_s ({:g}) must be positive", step_s));
  if (threads_max < 1) return bad(fmt::format("workload threads ({}) must be at least 1", threads_max));
  if (!(parallel_fraction >= 0 && parallel_fraction <= 1)) {
    return bad(fmt::format("workload parallel_fraction ({:g}) must be in [0, 1]", parallel_fraction));
  }
  if (lora_rank_max < 0) return bad(fmt::format("workload LoRA rank ({}) must not be negative", lora_rank_max));
  if (!(rank_cost_fraction >= 0 && rank_cost_fraction < 1)) {
    return bad(fmt::format("workload rank_cost_fraction ({:g}) must be in [0, 1)", rank_cost_fraction));
  }
  if (!(checkpoint_s >= 0)) return bad(fmt::format("workload checkpoint_s ({:g}) must not be negative", checkpoint_s));
  return common::Status::Ok();
}

double WorkloadModel::speed(int threads) const {
  auto amdahl = [this](int n) { return 1.0 / ((1 - parallel_fraction) + parallel_fraction / n); };
  return amdahl(std::clamp(threads, 1, threads_max)) / amdahl(threads_max);
}

double WorkloadModel::step_work(int rank) const {
  if (lora_rank_max <= 0) return 1.0;
  return (1 - rank_cost_fraction) + rank_cost_fraction * static_cast<double>(rank) / lora_rank_max;
}

namespace {

// Work per second at mean load u: the upper concave hull through (0,0) and (n/N, speed(n)).
double hull_work(const WorkloadModel& w, double u) {
  struct Pt {
    double u, s;
  };
  std::vector<Pt> pts{{0, 0}};
  for (int n = 1; n <= w.threads_max; ++n) pts.push_back({static_cast<double>(n) / w.threads_max, w.speed(n)});
  std::vector<Pt> hull;
  for (const Pt& p : pts) {  // monotone chain, upper hull (points sorted by u)
    while (hull.size() >= 2) {
      const Pt& a = hull[hull.size() - 2];
      const Pt& b = hull.back();
      double cross = (b.u - a.u) * (p.s - a.s) - (b.s - a.s) * (p.u - a.u);
      if (cross >= 0) hull.pop_back();
      else break;
    }
    hull.push_back(p);
  }
  u = std::clamp(u, 0.0, 1.0);
  for (size_t i = 1; i < hull.size(); ++i) {
    if (u <= hull[i].u) {
      double f = (u - hull[i - 1].u) / (hull[i].u - hull[i - 1].u);
      return hull[i - 1].s + f * (hull[i].s - hull[i - 1].s);
    }
  }
  return 1.0;
}

}  // namespace

double ideal_fraction(const PlantParams& plant, const WorkloadModel& workload, double cap_c, double hours) {
  if (plant.firmware_throttle_c > 0) cap_c = std::min(cap_c, plant.firmware_throttle_c);
  if (cap_c >= plant.steady_max_c) return 1.0;
  double t0 = plant.idle_c();
  if (cap_c <= t0) return 0.0;
  double u_star = plant.load_for(cap_c);
  double horizon_s = hours * 3600;
  double mean_load = u_star + plant.tau_s * (cap_c - t0) / (plant.gain_c() * horizon_s);
  return hull_work(workload, std::min(1.0, mean_load));
}

common::Result<NightSimResult> simulate_night(const NightSimOptions& o) {
  NS_RETURN_IF_ERROR(o.plant.validate());
  NS_RETURN_IF_ERROR(o.workload.validate());
  NS_RETURN_IF_ERROR(o.governor.validate());
  if (!(o.hours > 0) || !std::isfinite(o.hours)) {
    return common::Status::InvalidArgument(fmt::format("hours ({:g}) must be positive", o.hours));
  }
  const WorkloadModel& w = o.workload;
  const double end_s = o.hours * 3600;

  common::FakeClock clock(0.0);
  SimulatedPlant plant(o.plant, clock);
  plant.set_watch_c(o.governor.stop_c);
  const bool governed = o.governor.policy != Policy::kNone;
  std::unique_ptr<Governor> governor;
  if (governed) {
    Knobs knobs{w.threads_max, w.lora_rank_max};
    NS_ASSIGN_OR_RETURN(governor, Governor::create(o.governor, knobs, clock));
  }

  NightSimResult r;
  r.hours = o.hours;
  r.cap_c = o.cap_c > 0 ? o.cap_c : o.governor.setpoint_c;
  double work = 0;
  double next_trace_s = 0;
  std::optional<StepReport> last;
  Action previous = Action::kNormal;
  Decision d;
  d.lora_rank = w.lora_rank_max;
  d.threads = w.threads_max;

  auto idle_for = [&](double seconds) {
    plant.set_activity(0);
    clock.advance_s(std::max(0.0, std::min(seconds, end_s - clock.now_s())));
  };

  while (clock.now_s() < end_s) {
    Reading reading = plant.read();
    if (governed) {
      d = governor->decide(reading, last);
      for (Event& e : governor->take_events()) {
        if (e.kind == EventKind::kAdjust) ++r.adjustments;
        r.events.push_back(std::move(e));
      }
    }
    if (d.action != previous) {
      ++r.transitions;
      previous = d.action;
    }
    if (o.trace_every_s > 0 && clock.now_s() >= next_trace_s) {
      r.trace.push_back({clock.now_s(), plant.temp_c(), d.action, d.threads, d.lora_rank, d.duty});
      next_trace_s += o.trace_every_s;
    }
    if (d.checkpoint) {
      ++r.checkpoints;
      idle_for(w.checkpoint_s);
    }
    if (d.action == Action::kStop) {
      r.stopped = true;
      r.stop_reason = d.reason;
      idle_for(end_s - clock.now_s());
      break;
    }
    if (d.action == Action::kCheckpointAndWait) {
      idle_for(d.pause_ms / 1000);
      last.reset();
      continue;
    }
    if (d.pause_ms > 0) idle_for(d.pause_ms / 1000);
    if (clock.now_s() >= end_s) break;

    // One step.
    const int threads = std::clamp(d.threads, 1, w.threads_max);
    const int rank = w.lora_rank_max > 0 ? d.lora_rank : 0;
    const double load = static_cast<double>(threads) / w.threads_max;
    const double step_work = w.step_work(rank);
    const double speed = w.speed(threads) * plant.firmware_speed_factor(load);
    const double step_s = w.step_s * step_work / speed;
    const double run_s = std::min(step_s, end_s - clock.now_s());
    plant.set_activity(load);
    clock.advance_s(run_s);
    work += step_work * run_s / step_s;
    ++r.steps;
    last = StepReport{step_s, threads, rank};
  }
  plant.set_activity(0);

  r.max_temp_c = plant.max_temp_c();
  r.seconds_above_stop = plant.seconds_above_watch();
  r.seconds_firmware_throttled = plant.seconds_firmware_throttled();
  r.final_temp_c = plant.temp_c();
  r.throughput_fraction = work * w.step_s / end_s;
  r.ideal_fraction = ideal_fraction(o.plant, w, r.cap_c, o.hours);
  r.transitions_per_hour = r.transitions / o.hours;
  return r;
}

}  // namespace thermal
