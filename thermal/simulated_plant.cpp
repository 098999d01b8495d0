// The first-order plant, integrated exactly: T(t) = T∞ + (T0 − T∞)·exp(−t/τ) for constant load.
#include "thermal/simulated_plant.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace thermal {

common::Status PlantParams::validate() const {
  auto bad = [](const std::string& m) { return common::Status::InvalidArgument(m); };
  for (double v : {ambient_c, idle_rise_c, steady_max_c, tau_s, noise_c, firmware_throttle_c}) {
    if (!std::isfinite(v)) return bad("thermal plant: every parameter must be a finite number");
  }
  if (tau_s <= 0) return bad(fmt::format("thermal.plant.tau_s ({:g}) must be positive", tau_s));
  if (idle_rise_c < 0) return bad(fmt::format("thermal.plant.idle_rise_c ({:g}) must not be negative", idle_rise_c));
  if (steady_max_c <= idle_c()) {
    return bad(fmt::format("thermal.plant.steady_max_c ({:g}) must be above the idle temperature "
                           "ambient_c + idle_rise_c ({:g})", steady_max_c, idle_c()));
  }
  if (noise_c < 0) return bad(fmt::format("thermal.plant.noise_c ({:g}) must not be negative", noise_c));
  if (firmware_throttle_c != 0 && firmware_throttle_c <= idle_c()) {
    return bad(fmt::format("thermal.plant.throttle_c ({:g}) must be above the idle temperature ({:g}) or 0",
                           firmware_throttle_c, idle_c()));
  }
  return common::Status::Ok();
}

double PlantParams::load_for(double temp_c) const {
  return std::clamp((temp_c - idle_c()) / gain_c(), 0.0, 1.0);
}

SimulatedPlant::SimulatedPlant(const PlantParams& params, const common::Clock& clock, std::optional<double> start_c)
    : params_(params),
      clock_(clock),
      temp_c_(start_c.value_or(params.idle_c())),
      last_s_(clock.now_s()),
      max_temp_c_(temp_c_),
      rng_(params.seed) {}

void SimulatedPlant::evolve(double target_c, double dt) {
  if (dt <= 0) return;
  const double t0 = temp_c_;
  const double decay = std::exp(-dt / params_.tau_s);
  const double t1 = target_c + (t0 - target_c) * decay;
  // Time above the watch threshold: the curve is monotone, so at most one crossing.
  const double w = watch_c_;
  if (t0 > w && t1 > w) {
    seconds_above_watch_ += dt;
  } else if ((t0 > w) != (t1 > w)) {
    double crossing = params_.tau_s * std::log((t0 - target_c) / (w - target_c));
    crossing = std::clamp(crossing, 0.0, dt);
    seconds_above_watch_ += t0 > w ? crossing : dt - crossing;
  }
  temp_c_ = t1;
  max_temp_c_ = std::max({max_temp_c_, t0, t1});
}

void SimulatedPlant::advance() {
  double now = clock_.now_s();
  double dt = now - last_s_;
  last_s_ = now;
  if (dt <= 0) return;
  double target = params_.target_c(load_);
  double cap = params_.firmware_throttle_c;
  if (cap <= 0 || target <= cap) return evolve(target, dt);
  // The firmware holds the temperature at `cap` once it gets there.
  if (temp_c_ < cap) {
    double reach = params_.tau_s * std::log((temp_c_ - target) / (cap - target));
    if (reach >= dt) return evolve(target, dt);
    evolve(target, reach);
    temp_c_ = cap;
    dt -= reach;
  }
  seconds_firmware_throttled_ += dt;
  evolve(cap, dt);
}

void SimulatedPlant::set_activity(double load) {
  advance();
  load_ = std::clamp(load, 0.0, 1.0);
}

double SimulatedPlant::temp_c() {
  advance();
  return temp_c_;
}

double SimulatedPlant::firmware_speed_factor(double load) {
  advance();
  double cap = params_.firmware_throttle_c;
  if (cap <= 0 || load <= 0 || temp_c_ < cap - 1e-6 || params_.target_c(load) <= cap) return 1.0;
  return params_.load_for(cap) / load;
}

Reading SimulatedPlant::read() {
  advance();
  double t = temp_c_;
  if (params_.noise_c > 0) t += params_.noise_c * noise_(rng_);
  t = std::round(t * 1000) / 1000;
  std::optional<double> max_c;
  if (params_.firmware_throttle_c > 0) max_c = params_.firmware_throttle_c;
  return Reading::value(t, max_c);
}

std::string SimulatedPlant::describe() const {
  return fmt::format("simulated plant (ambient {:g} °C, idle +{:g} °C, steady max {:g} °C, tau {:g} s)",
                     params_.ambient_c, params_.idle_rise_c, params_.steady_max_c, params_.tau_s);
}

}  // namespace thermal
