// Runs a benchmark case at one instruction-set level of the engine's own kernels (simd_level.h), so
// one run times the AVX2 and AVX-512 versions side by side on the same machine. A level the CPU
// lacks skips the case with a message.
#pragma once

#include <benchmark/benchmark.h>

#include <string>

#include "trainer/kernels/simd_level.h"

namespace benchsimd {

// Sets the level for the case's lifetime and restores the previous one.
class LevelScope {
 public:
  LevelScope(benchmark::State& state, trainer::SimdLevel level) : saved_(trainer::simd_level()) {
    if (trainer::cpu_simd_level() < level) {
      state.SkipWithError((std::string("this CPU cannot run the ") + trainer::simd_level_name(level) + " kernels").c_str());
      ok_ = false;
      return;
    }
    trainer::set_simd_level(level);
    state.SetLabel(trainer::simd_level_name(level));
  }
  ~LevelScope() { trainer::set_simd_level(saved_); }
  LevelScope(const LevelScope&) = delete;
  LevelScope& operator=(const LevelScope&) = delete;
  bool ok() const { return ok_; }

 private:
  trainer::SimdLevel saved_;
  bool ok_ = true;
};

}  // namespace benchsimd
