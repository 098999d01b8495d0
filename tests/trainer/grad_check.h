// Finite-difference gradient checking for the engine's tests: central differences of a scalar loss
// (accumulated in double) compared with the analytic gradient, element by element and as a whole.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "trainer/rng.h"

namespace trainer_test {

inline void fill_normal(std::vector<float>& v, trainer::Rng& rng, double scale) {
  for (float& x : v) x = static_cast<float>(rng.normal() * scale);
}

// L = Σ w_i · out_i in double, the loss whose gradient w.r.t. `out` is `w`.
inline double weighted_sum(const std::vector<float>& w, const float* out) {
  double s = 0.0;
  for (size_t i = 0; i < w.size(); ++i) s += static_cast<double>(w[i]) * out[i];
  return s;
}

struct GradCheckOptions {
  float eps = 1e-2f;
  double rtol = 2e-2;       // per element, relative to the largest numeric gradient magnitude nearby
  double atol_frac = 2e-3;  // absolute floor as a fraction of max |numeric|
  double l2_tol = 1e-2;     // relative L2 error over all checked elements
  int max_checks = 160;     // check at most this many (evenly spread) entries
};

// Perturbs x[i] by ±eps, evaluates loss(), compares (L+ − L−)/2eps with analytic[i].
inline void expect_gradient(const std::string& what, float* x, size_t n, const float* analytic,
                            const std::function<double()>& loss, const GradCheckOptions& o = {}) {
  std::vector<size_t> idx;
  const size_t step = std::max<size_t>(1, n / o.max_checks);
  for (size_t i = 0; i < n; i += step) idx.push_back(i);
  std::vector<double> num(idx.size()), ana(idx.size());
  for (size_t k = 0; k < idx.size(); ++k) {
    const size_t i = idx[k];
    const float x0 = x[i];
    x[i] = x0 + o.eps;
    const double lp = loss();
    x[i] = x0 - o.eps;
    const double lm = loss();
    x[i] = x0;
    num[k] = (lp - lm) / (2.0 * o.eps);
    ana[k] = analytic[i];
  }
  double max_num = 0.0, diff2 = 0.0, ref2 = 0.0;
  for (size_t k = 0; k < idx.size(); ++k) {
    max_num = std::max(max_num, std::fabs(num[k]));
    diff2 += (num[k] - ana[k]) * (num[k] - ana[k]);
    ref2 += num[k] * num[k];
  }
  ASSERT_GT(max_num, 0.0) << what << ": the numeric gradient is identically zero (test cannot fail)";
  int bad = 0;
  for (size_t k = 0; k < idx.size() && bad < 5; ++k) {
    const double tol = o.atol_frac * max_num + o.rtol * std::max(std::fabs(num[k]), std::fabs(ana[k]));
    if (std::fabs(num[k] - ana[k]) > tol) {
      ADD_FAILURE() << what << "[" << idx[k] << "]: analytic " << ana[k] << " vs numeric " << num[k];
      ++bad;
    }
  }
  EXPECT_LT(std::sqrt(diff2 / ref2), o.l2_tol) << what << ": relative L2 error of the gradient";
}

}  // namespace trainer_test
