// Knob arithmetic shared by the policies, and the passive policy (Policy::kNone).
#include <algorithm>

#include "thermal/policy.h"

namespace thermal {

int shrunk_threads(const Knobs& knobs, const GovernorConfig& config, int notch) {
  int floor = std::min(config.threads_min, knobs.threads_max);
  int t = knobs.threads_max;
  for (int i = 0; i < notch && t > floor; ++i) t /= 2;
  return std::max(t, floor);
}

int shrunk_rank(const Knobs& knobs, const GovernorConfig& config, int notch) {
  if (knobs.lora_rank_max <= 0) return 0;
  int floor = std::min(config.rank_floor, knobs.lora_rank_max);
  int r = knobs.lora_rank_max;
  for (int i = 0; i < notch && r > floor; ++i) r /= 2;
  return std::max(r, floor);
}

int max_notch(const Knobs& knobs, const GovernorConfig& config) {
  int n = 0;
  while (shrunk_threads(knobs, config, n) != shrunk_threads(knobs, config, n + 1) ||
         shrunk_rank(knobs, config, n) != shrunk_rank(knobs, config, n + 1)) {
    ++n;
  }
  return n;
}

namespace {
class PassivePolicy final : public PolicyImpl {
 public:
  explicit PassivePolicy(const Knobs& knobs) : knobs_(knobs) {}
  PolicyOutput update(double, double) override {
    PolicyOutput out;
    out.lora_rank = knobs_.lora_rank_max;
    out.threads = knobs_.threads_max;
    out.reason = "no thermal policy";
    return out;
  }
  void on_resume(double, bool) override {}

 private:
  Knobs knobs_;
};
}  // namespace

std::unique_ptr<PolicyImpl> make_passive_policy(const Knobs& knobs) { return std::make_unique<PassivePolicy>(knobs); }

}  // namespace thermal
