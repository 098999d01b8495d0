// The kernels' instruction-set level: CPU detection once, NIGHTSHIFT_SIMD read once, a process-wide
// cap tests and benchmarks may lower (see simd_level.h).
#include "trainer/kernels/simd_level.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace trainer {
namespace {

SimdLevel detect() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return SimdLevel::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kPortable;
}

SimdLevel min_level(SimdLevel a, SimdLevel b) { return static_cast<int>(a) < static_cast<int>(b) ? a : b; }

// The CPU's level capped by NIGHTSHIFT_SIMD, if set to a level name.
SimdLevel initial_level() {
  const SimdLevel cpu = cpu_simd_level();
  const char* env = std::getenv("NIGHTSHIFT_SIMD");
  if (env == nullptr || *env == '\0') return cpu;
  const std::string_view v(env);
  for (SimdLevel l : {SimdLevel::kPortable, SimdLevel::kAvx2, SimdLevel::kAvx512})
    if (v == simd_level_name(l)) {
      if (static_cast<int>(l) > static_cast<int>(cpu))
        std::fprintf(stderr, "nightshift: NIGHTSHIFT_SIMD=%s: this CPU runs at most %s; using %s\n", env,
                     simd_level_name(cpu), simd_level_name(cpu));
      return min_level(l, cpu);
    }
  std::fprintf(stderr, "nightshift: NIGHTSHIFT_SIMD=%s is not one of portable, avx2, avx512; using %s\n", env,
               simd_level_name(cpu));
  return cpu;
}

std::atomic<int>& level_cell() {
  static std::atomic<int> cell{static_cast<int>(initial_level())};
  return cell;
}

}  // namespace

SimdLevel cpu_simd_level() {
  static const SimdLevel cpu = detect();
  return cpu;
}

SimdLevel simd_level() { return static_cast<SimdLevel>(level_cell().load(std::memory_order_relaxed)); }

SimdLevel set_simd_level(SimdLevel level) {
  const SimdLevel l = min_level(level, cpu_simd_level());
  level_cell().store(static_cast<int>(l), std::memory_order_relaxed);
  return l;
}

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kPortable: return "portable";
  }
  return "portable";
}

}  // namespace trainer
