// Test data and comparisons shared by the microbenches: seeded normal random vectors and a
// relative-with-floor closeness check for validating a kernel against its naive reference.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace benchdata {

// n values drawn from N(0, scale²) with a fixed seed.
inline std::vector<float> randn(int64_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// |got − want| <= tol · (1 + |want|).
inline bool close(double got, double want, double tol) { return std::fabs(got - want) <= tol * (1.0 + std::fabs(want)); }

}  // namespace benchdata
