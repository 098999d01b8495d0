// Finite-difference gradient checking for the SSM / MoE tests: central differences of a scalar
// loss (accumulated in double) against an analytic gradient, over a deterministic sample of
// indices. fp32 kernels, so tolerances are relative to the gradient's scale, plus the measured
// rounding noise of the loss divided by the step (grad_check.h), which differs between kernel sets.
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "trainer/grad_check.h"

namespace hybrid_test {

inline std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f, float mean = 0.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> dist(mean, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<float> uniform(std::size_t n, std::uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Σ w·y in double: the scalar every FD test differentiates.
inline double dot(const float* w, const float* y, std::size_t n) {
  double s = 0.0;
  for (std::size_t i = 0; i < n; ++i) s += static_cast<double>(w[i]) * y[i];
  return s;
}

struct FdOptions {
  float eps = 1e-2f;
  double rtol = 2e-3;     // per element, relative to max(|fd|, |analytic|)
  double atol_rel = 5e-4; // per element absolute slack, times the largest |analytic| entry
  int max_checks = 48;    // indices sampled (all when the tensor is smaller)
  double noise_sigmas = 6.0;  // slack for the loss's measured rounding noise, in deviations of fd
};

// Perturbs param[i] by ±eps, calls loss() (which must recompute everything from param), and
// compares (L+ − L−)/2eps with grad[i]. Restores param. Fails the test with the worst index.
inline void expect_fd_gradient(const std::string& name, float* param, const float* grad, std::size_t n,
                               const std::function<double()>& loss, const FdOptions& opt = {}) {
  ASSERT_GT(n, 0u) << name;
  std::vector<std::size_t> idx;
  if (static_cast<std::size_t>(opt.max_checks) >= n) {
    for (std::size_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    std::mt19937_64 rng(n * 7919 + name.size());
    std::uniform_int_distribution<std::size_t> pick(0, n - 1);
    for (int c = 0; c < opt.max_checks; ++c) idx.push_back(pick(rng));
  }
  double gmax = 0.0;
  for (std::size_t i = 0; i < n; ++i) gmax = std::max(gmax, std::fabs(static_cast<double>(grad[i])));
  const double atol = opt.atol_rel * std::max(gmax, 1e-3);
  double nonzero = 0.0;
  // The many tiny re-evaluations run on one thread: on a busy machine, waking a second OpenMP
  // thread hundreds of times costs more than the work (the analytic pass keeps all threads).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  // The loss's rounding noise (largest of three estimates), and the step as stored in fp32.
  double sigma = 0.0;
  for (std::size_t k : {std::size_t{0}, idx.size() / 2, idx.size() - 1}) {
    const double ulp = std::fabs(static_cast<double>(param[idx[k]])) * 1.1920929e-7;
    sigma = std::max(sigma, trainer_test::detail::loss_noise_at(param, idx[k], std::max(opt.eps * 1e-3, 8.0 * ulp), loss));
  }
  for (std::size_t i : idx) {
    const float saved = param[i];
    param[i] = saved + opt.eps;
    const double step_p = static_cast<double>(param[i]) - saved;
    const double lp = loss();
    param[i] = saved - opt.eps;
    const double step_m = saved - static_cast<double>(param[i]);
    const double lm = loss();
    param[i] = saved;
    const double fd = (lp - lm) / (step_p + step_m);
    const double an = grad[i];
    nonzero += std::fabs(fd);
    const double noise = opt.noise_sigmas * sigma * std::sqrt(2.0) / (step_p + step_m);
    const double tol = atol + noise + opt.rtol * std::max(std::fabs(fd), std::fabs(an));
    EXPECT_LE(std::fabs(fd - an), tol) << name << "[" << i << "]: finite difference " << fd
                                       << " vs analytic " << an;
  }
  omp_set_num_threads(threads);
  // A check against an all-zero gradient would pass vacuously.
  EXPECT_GT(nonzero, 0.0) << name << ": every sampled finite difference is zero";
}

}  // namespace hybrid_test
