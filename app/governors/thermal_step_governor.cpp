// ThermalStepGovernor and ScaledClock.
#include "app/governors/thermal_step_governor.h"

#include <cmath>
#include <limits>

namespace app {

ScaledClock::ScaledClock(common::Clock& base, double speed)
    : base_(base), speed_(speed > 0 ? speed : 1.0), origin_now_s_(base.now_s()), origin_wall_s_(base.wall_s()) {}

double ScaledClock::now_s() const { return origin_now_s_ + (base_.now_s() - origin_now_s_) * speed_; }
double ScaledClock::wall_s() const { return origin_wall_s_ + (base_.now_s() - origin_now_s_) * speed_; }
void ScaledClock::sleep_ms(double ms) { base_.sleep_ms(ms / speed_); }

ThermalStepGovernor::ThermalStepGovernor(std::unique_ptr<thermal::SensorSource> source, thermal::SimulatedPlant* plant,
                                         std::unique_ptr<thermal::Governor> governor, double time_scale,
                                         EventSink sink)
    : source_(std::move(source)),
      plant_(plant),
      governor_(std::move(governor)),
      time_scale_(time_scale > 0 ? time_scale : 1.0),
      sink_(std::move(sink)),
      last_temp_c_(std::numeric_limits<double>::quiet_NaN()) {}

// A reading the governor would reject as a sensor fault (failed, not a number, outside the
// plausible range: -273 °C, 250 °C) is not a temperature: the run log gets NULL for it.
double ThermalStepGovernor::logged_temp_c(const thermal::Reading& r) const {
  const thermal::GovernorConfig& c = governor_->config();
  if (!r.ok || !std::isfinite(r.temp_c) || r.temp_c < c.plausible_min_c || r.temp_c > c.plausible_max_c) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return r.temp_c;
}

double ThermalStepGovernor::sample_temp_c() {
  if (plant_) plant_->set_activity(0);
  last_temp_c_ = logged_temp_c(source_->read());
  return last_temp_c_;
}

Directive ThermalStepGovernor::before_step(const StepContext& context) {
  thermal::Reading reading = source_->read();
  last_temp_c_ = logged_temp_c(reading);
  thermal::Decision d = governor_->decide(reading, last_step_);
  last_step_.reset();
  for (const thermal::Event& e : governor_->take_events()) {
    // A move into checkpoint-and-wait is a cool-down (a pause reason for `nightshift summary`).
    const bool cooldown = e.kind == thermal::EventKind::kTransition && d.action == thermal::Action::kCheckpointAndWait;
    if (sink_) sink_(cooldown ? "cooldown" : std::string("thermal_") + thermal::event_kind_name(e.kind), e.describe());
  }

  Directive out;
  out.reason = d.reason;
  out.checkpoint = d.checkpoint;
  const double loop_pause_ms = d.pause_ms / time_scale_;
  const int rank_max = governor_->knobs().lora_rank_max;
  switch (d.action) {
    case thermal::Action::kStop:
      out.action = Directive::Action::kStop;
      if (plant_) plant_->set_activity(0);
      return out;
    case thermal::Action::kCheckpointAndWait:
      out.action = Directive::Action::kCheckpointAndWait;
      out.pause_ms = loop_pause_ms;
      if (plant_) plant_->set_activity(0);
      return out;
    default:
      break;
  }
  if (d.threads > 0 && d.threads != context.threads) out.threads = d.threads;
  if (rank_max > 0 && d.lora_rank > 0) out.lora_rank = d.lora_rank;  // the loop skips an unchanged rank
  out.pause_ms = loop_pause_ms;
  // The plant heats with the average power of the coming step and its pause.
  const int threads = d.threads > 0 ? d.threads : context.threads;
  if (plant_) plant_->set_activity(d.duty * threads / std::max(1, context.max_threads));
  pending_ = d;
  return out;
}

void ThermalStepGovernor::after_step(const trainer::StepStats& stats) {
  // The governor's clock may be scaled: the compute time it sees is in its own seconds.
  last_step_ = thermal::StepReport{stats.step_s * time_scale_, stats.threads, pending_.lora_rank};
}

}  // namespace app
