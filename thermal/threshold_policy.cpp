// The threshold policy: temperature bands with hysteresis; within a band the knobs adapt in small
// steps, so the policy settles inside a band instead of flapping across a boundary.
//   below shrink_c      normal: full rank and threads
//   shrink_c..pause_c   throttle: entering halves the LoRA rank (down to rank_floor) and the threads
//                       (down to threads_min); while the temperature still rises, every
//                       adjust_interval_s the rank halves again and one thread step goes; when
//                       cool (below shrink_c − hysteresis_c) one thread step, then one rank
//                       doubling, comes back per interval; fully restored → normal
//   pause_c..stop_c     pause: pause_ms after every step; while still rising, fewer threads, then
//                       the pause doubles (the Governor caps it at duty_min) — at once for every
//                       further degree in the upper half of the band; when cool (below
//                       pause_c − hysteresis_c) the pause halves down to pause_ms / 8, then → throttle
// After a checkpoint-and-wait the policy resumes at the floors, and if it had been pausing, with
// twice the pause it had then (the band could not hold the device).
// Knobs come back, and a state is left downwards, only after the temperature has stayed below the
// band's cool limit for the dwell time (then one step per adjust interval). Re-entering a band within flap_window_s
// of leaving it doubles the dwell (up to max_dwell_s). stop_c and above is the Governor's.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "thermal/policy.h"

namespace thermal {
namespace {

constexpr double kRisingC = 0.5;        // a change smaller than this is noise, not a trend
constexpr double kPauseCapMs = 60000;   // the pause never doubles beyond a minute per step
constexpr int kPauseRelaxSteps = 3;     // the pause halves this many times below pause_ms before leaving

class ThresholdPolicy final : public PolicyImpl {
 public:
  ThresholdPolicy(const GovernorConfig& config, const Knobs& knobs)
      : config_(config),
        knobs_(knobs),
        threads_floor_(std::min(config.threads_min, knobs.threads_max)),
        rank_floor_(knobs.lora_rank_max > 0 ? std::min(config.rank_floor, knobs.lora_rank_max) : 0),
        thread_step_(std::max(1, knobs.threads_max / 8)),
        threads_(knobs.threads_max),
        rank_(knobs.lora_rank_max),
        dwell_s_(config.min_dwell_s) {}

  PolicyOutput update(double now_s, double temp_c) override {
    if (!started_) {
      started_ = true;
      enter(Action::kNormal, now_s, temp_c, fmt::format("below shrink {:g} °C", config_.shrink_c));
    }
    // How long it has been cool for the current band (the dwell is measured in cool time).
    double cool_c = state_ == Action::kPause ? config_.pause_c - config_.hysteresis_c
                                             : config_.shrink_c - config_.hysteresis_c;
    if (temp_c >= cool_c) {
      cool_since_s_ = -1;
    } else if (cool_since_s_ < 0) {
      cool_since_s_ = now_s;
    }
    switch (state_) {
      case Action::kNormal: update_normal(now_s, temp_c); break;
      case Action::kThrottle: update_throttle(now_s, temp_c); break;
      case Action::kPause: update_pause(now_s, temp_c); break;
      default: break;
    }
    PolicyOutput out;
    out.action = state_;
    out.lora_rank = rank_;
    out.threads = threads_;
    out.pause_ms = state_ == Action::kPause ? pause_ms_ : 0;
    out.reason = reason_;
    return out;
  }

  void on_resume(double now_s, bool overheated) override {
    // After a cool-down: throttled to the floors; knobs come back step by step while cool.
    threads_ = threads_floor_;
    rank_ = rank_floor_;
    cool_since_s_ = -1;
    mark_adjust(now_s, config_.resume_c);
    if (started_ && state_ == Action::kPause && !overheated) {
      reason_ = fmt::format("resumed at the floors with pause {:g} ms per step", pause_ms_);
    } else if (started_ && state_ == Action::kPause) {
      pause_ms_ = std::min(kPauseCapMs, std::max(pause_ms_, config_.pause_ms) * 2);
      reason_ = fmt::format("resumed below {:g} °C at the floors with pause {:g} ms per step (the pause band "
                            "did not hold)", config_.resume_c, pause_ms_);
    } else {
      state_ = Action::kThrottle;
      reason_ = fmt::format("resumed below {:g} °C at the floors; knobs return step by step while cool",
                            config_.resume_c);
    }
    started_ = true;
  }

 private:
  void enter(Action state, double now_s, double temp_c, std::string reason) {
    int band = state == Action::kThrottle ? 0 : state == Action::kPause ? 1 : -1;
    if (band >= 0 && static_cast<int>(state) > static_cast<int>(state_) && left_band_s_[band] >= 0) {
      if (now_s - left_band_s_[band] < config_.flap_window_s) {
        dwell_s_ = std::min(config_.max_dwell_s, std::max(dwell_s_, config_.min_dwell_s) * 2);
        reason += fmt::format(" (back within {:g} s: dwell now {:g} s)", config_.flap_window_s, dwell_s_);
      } else {
        dwell_s_ = std::max(config_.min_dwell_s, dwell_s_ / 2);
      }
    }
    state_ = state;
    cool_since_s_ = -1;
    mark_adjust(now_s, temp_c);
    reason_ = std::move(reason);
  }

  bool adjust_due(double now_s) const { return now_s - last_adjust_s_ >= config_.adjust_interval_s; }
  bool dwelt(double now_s) const { return cool_since_s_ >= 0 && now_s - cool_since_s_ >= dwell_s_; }
  void mark_adjust(double now_s, double temp_c) {
    last_adjust_s_ = now_s;
    temp_at_adjust_c_ = temp_c;
  }
  void halve_rank() { rank_ = std::max(rank_floor_, rank_ / 2); }
  void halve_threads() { threads_ = std::max(threads_floor_, threads_ / 2); }
  bool fully_restored() const { return threads_ == knobs_.threads_max && rank_ == knobs_.lora_rank_max; }
  std::string knobs_text() const { return fmt::format("rank {}, threads {}", rank_, threads_); }

  void go_throttle(double now_s, double temp_c) {
    halve_rank();
    halve_threads();
    enter(Action::kThrottle, now_s, temp_c,
          fmt::format("{:.1f} °C ≥ shrink {:g} °C: {}", temp_c, config_.shrink_c, knobs_text()));
  }

  void go_pause(double now_s, double temp_c) {
    if (state_ == Action::kNormal) {
      halve_rank();
      halve_threads();
    }
    pause_ms_ = config_.pause_ms;
    enter(Action::kPause, now_s, temp_c,
          fmt::format("{:.1f} °C ≥ pause {:g} °C: pause {:g} ms per step, {}", temp_c, config_.pause_c, pause_ms_,
                      knobs_text()));
  }

  void update_normal(double now_s, double temp_c) {
    if (temp_c >= config_.pause_c) return go_pause(now_s, temp_c);
    if (temp_c >= config_.shrink_c) go_throttle(now_s, temp_c);
  }

  void update_throttle(double now_s, double temp_c) {
    if (temp_c >= config_.pause_c) return go_pause(now_s, temp_c);
    if (!adjust_due(now_s)) return;
    if (temp_c >= config_.shrink_c) {
      // In the band and still rising: a smaller rank and one thread step fewer.
      if (temp_c > temp_at_adjust_c_ + kRisingC) {
        halve_rank();
        threads_ = std::max(threads_floor_, threads_ - thread_step_);
        reason_ = fmt::format("{:.1f} °C still rising in the shrink band: {}", temp_c, knobs_text());
      }
      mark_adjust(now_s, temp_c);
      return;
    }
    const double cool_c = config_.shrink_c - config_.hysteresis_c;
    if (temp_c < cool_c && dwelt(now_s)) {
      // Cool: threads come back first (they decide the speed), then the rank.
      if (threads_ < knobs_.threads_max) {
        threads_ = std::min(knobs_.threads_max, threads_ + thread_step_);
      } else if (rank_ < knobs_.lora_rank_max) {
        rank_ = std::min(knobs_.lora_rank_max, rank_ * 2);
      }
      mark_adjust(now_s, temp_c);
      if (fully_restored()) {
        left_band_s_[0] = now_s;
        enter(Action::kNormal, now_s, temp_c,
              fmt::format("{:.1f} °C < {:g} °C: full rank and threads", temp_c, cool_c));
      } else {
        reason_ = fmt::format("{:.1f} °C < {:g} °C: {}", temp_c, cool_c, knobs_text());
      }
    }
  }

  void update_pause(double now_s, double temp_c) {
    const double midpoint_c = 0.5 * (config_.pause_c + config_.stop_c);
    const bool climbing_high = temp_c >= midpoint_c && temp_c >= temp_at_adjust_c_ + 1.0;
    if (!adjust_due(now_s) && !climbing_high) return;
    if (temp_c >= config_.pause_c) {
      bool rising = temp_c > temp_at_adjust_c_ + kRisingC;
      bool high_and_not_falling = temp_c >= midpoint_c && temp_c > temp_at_adjust_c_ - kRisingC;
      if (rising || high_and_not_falling) {
        halve_rank();
        if (threads_ > threads_floor_) {
          threads_ = std::max(threads_floor_, threads_ - thread_step_);
        } else {
          pause_ms_ = std::min(kPauseCapMs, std::max(pause_ms_, 1.0) * 2);
        }
        reason_ = fmt::format("{:.1f} °C still rising in the pause band: pause {:g} ms per step, {}", temp_c,
                              pause_ms_, knobs_text());
      }
      mark_adjust(now_s, temp_c);
      return;
    }
    const double cool_c = config_.pause_c - config_.hysteresis_c;
    if (temp_c < cool_c && dwelt(now_s)) {
      mark_adjust(now_s, temp_c);
      double relaxed_ms = config_.pause_ms / (1 << kPauseRelaxSteps);
      if (pause_ms_ > relaxed_ms * 1.0001) {
        pause_ms_ = std::max(relaxed_ms, pause_ms_ / 2);
        reason_ = fmt::format("{:.1f} °C < {:g} °C: pause {:g} ms per step", temp_c, cool_c, pause_ms_);
        return;
      }
      left_band_s_[1] = now_s;
      enter(Action::kThrottle, now_s, temp_c,
            fmt::format("{:.1f} °C < {:g} °C: no more pauses, {}", temp_c, cool_c, knobs_text()));
    }
  }

  const GovernorConfig config_;
  const Knobs knobs_;
  const int threads_floor_;
  const int rank_floor_;
  const int thread_step_;
  bool started_ = false;
  Action state_ = Action::kNormal;
  int threads_;
  int rank_;
  double pause_ms_ = 0;
  double cool_since_s_ = -1;  // since when below the current band's cool limit (-1: not cool)
  double last_adjust_s_ = 0;
  double temp_at_adjust_c_ = 0;
  double dwell_s_;
  double left_band_s_[2] = {-1, -1};  // when the throttle / pause band was last left downwards
  std::string reason_;
};

}  // namespace

std::unique_ptr<PolicyImpl> make_threshold_policy(const GovernorConfig& config, const Knobs& knobs) {
  return std::make_unique<ThresholdPolicy>(config, knobs);
}

}  // namespace thermal
