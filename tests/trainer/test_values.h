// Inputs and comparisons shared by the engine's tests: seeded random token ids and normal values, and
// an element-wise closeness check of one computation against another (packed against alone, fused
// against unfused) that names the first element off.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "trainer/rng.h"

namespace trainer_test {

// n token ids drawn uniformly below V with the engine's own Rng.
inline std::vector<int32_t> random_tokens(int n, int V, uint64_t seed) {
  trainer::Rng rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng.below(V));
  return t;
}

// n standard normal values from a seeded std::mt19937.
inline std::vector<float> normal_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// |a[i] - b[i]| <= rel * max|b| (floored at 1e-6) for every i; the first element off fails the test.
inline void expect_close(const float* a, const float* b, int64_t n, double rel, const std::string& what) {
  double scale = 1e-6;
  for (int64_t i = 0; i < n; ++i) scale = std::max(scale, static_cast<double>(std::fabs(b[i])));
  for (int64_t i = 0; i < n; ++i)
    ASSERT_LE(std::fabs(a[i] - b[i]), rel * scale) << what << "[" << i << "]: " << a[i] << " vs " << b[i];
}

}  // namespace trainer_test
