// Clock: injected time, so governors, schedulers and deadlines are deterministic in tests.
// SteadyClock reads CLOCK_MONOTONIC and the wall clock; FakeClock only moves when told to.
// Both are used from one thread at a time (not synchronised).
#pragma once

#include <cstdint>

namespace common {

// Wall-clock seconds since the Unix epoch, for code without an injected Clock (readers of a run log).
double wall_now_s();

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic seconds since an arbitrary origin.
  virtual double now_s() const = 0;
  // Wall-clock seconds since the Unix epoch (for time windows and log timestamps).
  virtual double wall_s() const = 0;
  // Sleep (FakeClock: advance) for the given milliseconds.
  virtual void sleep_ms(double ms) = 0;
};

class SteadyClock final : public Clock {
 public:
  double now_s() const override;
  double wall_s() const override;
  void sleep_ms(double ms) override;
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(double start_s = 0.0, double wall_origin_s = 1.7e9)
      : now_s_(start_s), wall_origin_s_(wall_origin_s) {}
  double now_s() const override { return now_s_; }
  double wall_s() const override { return wall_origin_s_ + now_s_; }
  void sleep_ms(double ms) override { now_s_ += ms / 1000.0; }
  void advance_s(double s) { now_s_ += s; }
  // Steps the wall clock only (NTP after boot, a manual change): monotonic time is unaffected.
  void step_wall_s(double s) { wall_origin_s_ += s; }

 private:
  double now_s_;
  double wall_origin_s_;
};

}  // namespace common
