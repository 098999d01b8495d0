// The threshold policy: temperature bands with hysteresis, minimum dwell and flap damping.
//   below shrink_c      normal (full rank and threads; knobs come back one notch at a time)
//   shrink_c..pause_c   throttle: one notch = halve the LoRA rank (to rank_floor) and the threads
//                       (to threads_min); one more notch per adjust_interval_s while still rising
//   pause_c..stop_c     pause pause_ms after every step; while still rising, one more notch, then
//                       the pause doubles (the Governor caps it at duty_min)
// A band is left downwards only below its threshold minus hysteresis_c, after the state has
// lasted the dwell time. Re-entering a band within flap_window_s of leaving it doubles the dwell
// (up to max_dwell_s), so a device whose sustainable level sits on a boundary settles instead of
// flapping. stop_c and above is the Governor's (checkpoint and wait).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "thermal/policy.h"

namespace thermal {
namespace {

constexpr double kRisingC = 0.5;        // a change smaller than this is noise, not a trend
constexpr double kPauseCapMs = 60000;   // the pause never doubles beyond a minute per step

class ThresholdPolicy final : public PolicyImpl {
 public:
  ThresholdPolicy(const GovernorConfig& config, const Knobs& knobs)
      : config_(config), knobs_(knobs), notch_max_(max_notch(knobs, config)), dwell_s_(config.min_dwell_s) {}

  PolicyOutput update(double now_s, double temp_c) override {
    if (!started_) {
      started_ = true;
      enter(Action::kNormal, now_s, temp_c, fmt::format("below shrink {:g} °C", config_.shrink_c));
    }
    switch (state_) {
      case Action::kNormal: update_normal(now_s, temp_c); break;
      case Action::kThrottle: update_throttle(now_s, temp_c); break;
      case Action::kPause: update_pause(now_s, temp_c); break;
      default: break;
    }
    PolicyOutput out;
    out.action = state_;
    out.lora_rank = shrunk_rank(knobs_, config_, notch_);
    out.threads = shrunk_threads(knobs_, config_, notch_);
    out.pause_ms = state_ == Action::kPause ? pause_ms_ : 0;
    out.reason = reason_;
    return out;
  }

  void on_resume(double now_s) override {
    // After a cool-down: throttled to the floor, knobs come back one notch at a time.
    started_ = true;
    state_ = Action::kThrottle;
    notch_ = notch_max_;
    entered_s_ = now_s;
    last_adjust_s_ = now_s;
    temp_at_adjust_c_ = config_.resume_c;
    reason_ = fmt::format("resumed below {:g} °C; knobs return one notch per {:g} s when cool",
                          config_.resume_c, config_.adjust_interval_s);
  }

 private:
  void enter(Action state, double now_s, double temp_c, std::string reason) {
    // Flap damping: coming back up into a band soon after leaving it.
    int band = state == Action::kThrottle ? 0 : state == Action::kPause ? 1 : -1;
    if (band >= 0 && static_cast<int>(state) > static_cast<int>(state_)) {
      if (left_band_s_[band] >= 0 && now_s - left_band_s_[band] < config_.flap_window_s) {
        dwell_s_ = std::min(config_.max_dwell_s, std::max(dwell_s_, config_.min_dwell_s) * 2);
        reason += fmt::format(" (re-entered within {:g} s: dwell now {:g} s)", config_.flap_window_s, dwell_s_);
      } else if (left_band_s_[band] >= 0) {
        dwell_s_ = std::max(config_.min_dwell_s, dwell_s_ / 2);
      }
    }
    state_ = state;
    entered_s_ = now_s;
    last_adjust_s_ = now_s;
    temp_at_adjust_c_ = temp_c;
    reason_ = std::move(reason);
  }

  bool adjust_due(double now_s) const { return now_s - last_adjust_s_ >= config_.adjust_interval_s; }
  bool dwelt(double now_s) const { return now_s - entered_s_ >= dwell_s_; }
  void mark_adjust(double now_s, double temp_c) {
    last_adjust_s_ = now_s;
    temp_at_adjust_c_ = temp_c;
  }

  void go_pause(double now_s, double temp_c) {
    notch_ = std::max(notch_, std::min(1, notch_max_));
    pause_ms_ = config_.pause_ms;
    enter(Action::kPause, now_s, temp_c,
          fmt::format("{:.1f} °C ≥ pause {:g} °C: pause {:g} ms per step", temp_c, config_.pause_c, pause_ms_));
  }

  void update_normal(double now_s, double temp_c) {
    if (temp_c >= config_.pause_c) return go_pause(now_s, temp_c);
    if (temp_c >= config_.shrink_c) {
      notch_ = std::min(1, notch_max_);
      enter(Action::kThrottle, now_s, temp_c,
            fmt::format("{:.1f} °C ≥ shrink {:g} °C", temp_c, config_.shrink_c));
    }
  }

  void update_throttle(double now_s, double temp_c) {
    if (temp_c >= config_.pause_c) return go_pause(now_s, temp_c);
    if (temp_c >= config_.shrink_c) {
      // Still in the band: one more notch if the temperature keeps rising.
      if (adjust_due(now_s)) {
        if (temp_c > temp_at_adjust_c_ + kRisingC && notch_ < notch_max_) {
          ++notch_;
          reason_ = fmt::format("{:.1f} °C still rising in the shrink band: notch {}", temp_c, notch_);
        }
        mark_adjust(now_s, temp_c);
      }
      return;
    }
    if (temp_c < config_.shrink_c - config_.hysteresis_c && dwelt(now_s) && adjust_due(now_s)) {
      // Cool: give back one notch at a time.
      if (notch_ > 0) --notch_;
      mark_adjust(now_s, temp_c);
      if (notch_ == 0) {
        left_band_s_[0] = now_s;
        enter(Action::kNormal, now_s, temp_c,
              fmt::format("{:.1f} °C < {:g} °C: full rank and threads", temp_c,
                          config_.shrink_c - config_.hysteresis_c));
      } else {
        reason_ = fmt::format("{:.1f} °C < {:g} °C: back to notch {}", temp_c,
                              config_.shrink_c - config_.hysteresis_c, notch_);
      }
    }
  }

  void update_pause(double now_s, double temp_c) {
    if (temp_c >= config_.pause_c) {
      if (adjust_due(now_s)) {
        double midpoint_c = 0.5 * (config_.pause_c + config_.stop_c);
        bool rising = temp_c > temp_at_adjust_c_ + kRisingC;
        bool high_and_not_falling = temp_c >= midpoint_c && temp_c > temp_at_adjust_c_ - kRisingC;
        if (rising || high_and_not_falling) {
          if (notch_ < notch_max_) {
            ++notch_;
            reason_ = fmt::format("{:.1f} °C still rising in the pause band: notch {}", temp_c, notch_);
          } else if (pause_ms_ < kPauseCapMs) {
            pause_ms_ = std::min(kPauseCapMs, std::max(pause_ms_, 1.0) * 2);
            reason_ = fmt::format("{:.1f} °C still rising in the pause band: pause {:g} ms per step", temp_c,
                                  pause_ms_);
          }
        }
        mark_adjust(now_s, temp_c);
      }
      return;
    }
    if (temp_c < config_.pause_c - config_.hysteresis_c && dwelt(now_s) && adjust_due(now_s)) {
      mark_adjust(now_s, temp_c);
      if (pause_ms_ > config_.pause_ms) {
        pause_ms_ = std::max(config_.pause_ms, pause_ms_ / 2);
        reason_ = fmt::format("{:.1f} °C < {:g} °C: pause {:g} ms per step", temp_c,
                              config_.pause_c - config_.hysteresis_c, pause_ms_);
        return;
      }
      left_band_s_[1] = now_s;
      notch_ = std::max(notch_, std::min(1, notch_max_));
      enter(Action::kThrottle, now_s, temp_c,
            fmt::format("{:.1f} °C < {:g} °C: no more pauses", temp_c, config_.pause_c - config_.hysteresis_c));
    }
  }

  GovernorConfig config_;
  Knobs knobs_;
  int notch_max_;
  bool started_ = false;
  Action state_ = Action::kNormal;
  int notch_ = 0;
  double pause_ms_ = 0;
  double entered_s_ = 0;
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
