// SteadyClock on std::chrono.
#include "common/clock.h"

#include <chrono>
#include <thread>

namespace common {

double SteadyClock::now_s() const {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

double wall_now_s() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

double SteadyClock::wall_s() const { return wall_now_s(); }

void SteadyClock::sleep_ms(double ms) {
  if (ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
}

}  // namespace common
