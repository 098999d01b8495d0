// The setpoint policy: a PI controller holding setpoint_c with the most throughput.
// It controls the power level u = threads/threads_max × duty in [u_min, 1] (u_min from duty_min
// and threads_min): u = kp·e + I with e = setpoint − T and dI/dt = kp/ti·e. Anti-windup by
// back-calculation: I is clamped so that kp·e + I stays within [u_min, 1] (Åström & Hägglund,
// "Advanced PID Control", 2006, §3.5). u is realised with the fewest threads that can deliver it
// at duty ≤ 1 (fewer busy cores do more work per watt when scaling is sublinear), with a small
// hysteresis on the thread count. The LoRA rank is left at full: it costs throughput and not heat.
// The controller sees the temperature through a first-order low-pass (filter_s), so sensor noise
// does not modulate the power; the action reported (normal / throttle / pause) has hysteresis so
// a power level near a label boundary does not flap the label (the knobs themselves are exact).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "thermal/policy.h"

namespace thermal {
namespace {

constexpr double kThreadHysteresis = 0.03;  // in units of u
constexpr double kMaxDtS = 30;              // a gap longer than this integrates as this
constexpr double kInitialIntegral = 0.5;    // u at zero error on the first reading
constexpr double kResumeIntegral = 0.3;     // ... and after a cool-down
// Labels: normal at full power (kept down to kNormalKeep); pause when mostly pausing (duty below
// kPauseEnter, kept up to kPauseLeave); throttle for everything between (fewer threads and/or a
// short pause per step).
constexpr double kNormalKeep = 0.97;
constexpr double kPauseEnter = 0.5;
constexpr double kPauseLeave = 0.6;

class SetpointPolicy final : public PolicyImpl {
 public:
  SetpointPolicy(const GovernorConfig& config, const Knobs& knobs)
      : config_(config), knobs_(knobs), threads_(knobs.threads_max) {
    int tmin = std::min(config.threads_min, knobs.threads_max);
    u_min_ = config.duty_min * tmin / knobs.threads_max;
  }

  PolicyOutput update(double now_s, double temp_c) override {
    if (started_) {
      double dt = std::clamp(now_s - last_s_, 0.0, kMaxDtS);
      double alpha = config_.filter_s > 0 ? 1 - std::exp(-dt / config_.filter_s) : 1.0;
      filtered_c_ += alpha * (temp_c - filtered_c_);
      integral_ += config_.kp_per_c / config_.ti_s * (config_.setpoint_c - filtered_c_) * dt;
    } else {
      started_ = true;
      filtered_c_ = temp_c;
    }
    const double e = config_.setpoint_c - filtered_c_;
    last_s_ = now_s;
    double p = config_.kp_per_c * e;
    integral_ = std::clamp(integral_, u_min_ - p, 1.0 - p);
    double u = std::clamp(p + integral_, u_min_, 1.0);
    u_ = u;

    // The thread count: the fewest that deliver u at duty ≤ 1, with hysteresis.
    const int n_max = knobs_.threads_max;
    const int n_min = std::min(config_.threads_min, n_max);
    double per_thread = 1.0 / n_max;
    if (u > threads_ * per_thread + kThreadHysteresis || u >= 1.0) {
      threads_ = std::min(n_max, static_cast<int>(std::ceil(u * n_max - 1e-9)));
    }
    while (threads_ > n_min && u < (threads_ - 1) * per_thread - kThreadHysteresis) --threads_;
    threads_ = std::clamp(threads_, n_min, n_max);
    double duty = std::min(1.0, u * n_max / threads_);

    if (duty >= 0.999) duty = 1.0;

    Action label;
    if (u >= 0.999 || (label_ == Action::kNormal && u >= kNormalKeep && threads_ == n_max)) {
      label = Action::kNormal;
    } else if (duty < kPauseEnter || (label_ == Action::kPause && duty < kPauseLeave)) {
      label = Action::kPause;
    } else {
      label = Action::kThrottle;
    }
    label_ = label;

    PolicyOutput out;
    out.action = label;
    out.lora_rank = knobs_.lora_rank_max;
    out.threads = threads_;
    out.duty = duty;
    out.reason = fmt::format("setpoint {:g} °C, at {:.1f} °C: power {:.0f}% ({} threads, duty {:.2f})",
                             config_.setpoint_c, filtered_c_, 100 * u, threads_, duty);
    return out;
  }

  void on_resume(double now_s, bool /*overheated*/) override {
    started_ = false;  // the filter restarts from the next reading
    last_s_ = now_s;
    integral_ = kResumeIntegral;
  }

 private:
  GovernorConfig config_;
  Knobs knobs_;
  double u_min_ = 0;
  bool started_ = false;
  double last_s_ = 0;
  double integral_ = kInitialIntegral;
  double filtered_c_ = 0;
  Action label_ = Action::kNormal;
  double u_ = 1.0;
  int threads_;
};

}  // namespace

std::unique_ptr<PolicyImpl> make_setpoint_policy(const GovernorConfig& config, const Knobs& knobs) {
  return std::make_unique<SetpointPolicy>(config, knobs);
}

}  // namespace thermal
