// Finite-difference gradient checking for the engine's tests. The loss is computed by fp32 kernels
// whose rounding differs between kernel sets (OpenBLAS Haswell vs SkylakeX, x86 vs aarch64), so a
// fixed tolerance is either loose or machine-dependent. Instead, per tensor:
//   - the step is eps times the tensor's RMS magnitude (floored), taken exactly as stored in fp32,
//     or twice or half that when the error estimate below is then smaller;
//   - central differences at steps h and h/2 are combined by Richardson extrapolation, and their
//     disagreement bounds the truncation error;
//   - the loss's own rounding noise sigma is measured (high-order differences at a spacing far below
//     h, where the smooth part vanishes: Moré & Wild, "Estimating computational noise", 2011), and
//     the numeric gradient's noise follows from it;
//   - an element fails when |analytic - numeric| exceeds that error estimate plus rtol/atol; the
//     tensor fails when its relative L2 error exceeds l2_tol plus the estimate, or when the estimate
//     itself is above l2_tol (the finite differences could not have caught a wrong gradient).
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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
  float eps = 1e-2f;          // step h = eps * max(RMS of the tensor, min_scale)
  float min_scale = 0.1f;     // floor of the step's scale (tensors near zero still move)
  double rtol = 1e-2;         // per element, relative to max(|numeric|, |analytic|)
  double atol_frac = 1e-3;    // per element absolute floor, as a fraction of max |numeric|
  double l2_tol = 1e-2;       // relative L2 error over all checked elements
  double noise_sigmas = 6.0;  // the numeric gradient's noise allowance, in standard deviations
  int max_checks = 160;       // check at most this many (evenly spread) entries
};

struct GradCheckReport {
  std::vector<std::string> failures;  // empty when the gradient matches
  double loss_noise = 0.0;            // measured standard deviation of the loss's rounding noise
  double step = 0.0;                  // h
  double rel_l2 = 0.0;                // ||numeric - analytic|| / ||numeric||
  double rel_uncertainty = 0.0;       // ||error estimate|| / ||numeric||
  bool ok() const { return failures.empty(); }
};

namespace detail {

// Evaluates loss() with x[i] moved by `delta`; returns the move as actually stored in fp32.
inline double loss_at(float* x, size_t i, double delta, const std::function<double()>& loss, double* moved) {
  const float x0 = x[i];
  x[i] = static_cast<float>(x0 + delta);
  *moved = static_cast<double>(x[i]) - x0;
  const double l = loss();
  x[i] = x0;
  return l;
}

// Standard deviation of the loss's rounding noise along coordinate i: 4th differences over 9 points
// spaced `delta` apart. The smooth part contributes ~L''''·delta^4 (nothing); for independent noise
// of deviation sigma, E[(Δ⁴L)²] = C(8,4)·sigma² = 70·sigma².
inline double loss_noise_at(float* x, size_t i, double delta, const std::function<double()>& loss) {
  double f[9], moved = 0.0;
  for (int j = 0; j < 9; ++j) f[j] = loss_at(x, i, (j - 4) * delta, loss, &moved);
  double s2 = 0.0;
  for (int j = 0; j + 4 < 9; ++j) {
    const double d4 = f[j] - 4.0 * f[j + 1] + 6.0 * f[j + 2] - 4.0 * f[j + 3] + f[j + 4];
    s2 += d4 * d4;
  }
  return std::sqrt(s2 / (5.0 * 70.0));
}

inline std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace detail

// Compares analytic[i] with the numeric derivative of loss() w.r.t. x[i] over a spread of entries;
// loss() must recompute everything from x. Restores x. Reports, never fails the test itself.
inline GradCheckReport check_gradient(const std::string& what, float* x, size_t n, const float* analytic,
                                      const std::function<double()>& loss, const GradCheckOptions& o = {}) {
  GradCheckReport r;
  std::vector<size_t> idx;
  const size_t stride = std::max<size_t>(1, n / static_cast<size_t>(o.max_checks));
  for (size_t i = 0; i < n; i += stride) idx.push_back(i);
  if (idx.empty()) {
    r.failures.push_back(what + ": empty tensor");
    return r;
  }

  double ss = 0.0;
  for (size_t i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  const double h = o.eps * std::max(std::sqrt(ss / static_cast<double>(n)), static_cast<double>(o.min_scale));
  r.step = h;

  // Noise: the largest estimate at three spread entries, at a spacing of h/1000 (but several ulps).
  for (size_t k : {size_t{0}, idx.size() / 2, idx.size() - 1}) {
    const size_t i = idx[k];
    const double ulp = std::max(std::fabs(static_cast<double>(x[i])), 1e-30) * 1.1920929e-7;
    r.loss_noise = std::max(r.loss_noise, detail::loss_noise_at(x, i, std::max(h * 1e-3, 8.0 * ulp), loss));
  }

  // Numeric gradients at step h: Richardson extrapolation of central differences at h and h/2,
  // with an error estimate per entry; returns the estimate's size relative to the gradient's.
  std::vector<double> num(idx.size()), err(idx.size());
  auto estimate = [&](double step, std::vector<double>& nu, std::vector<double>& er) {
    double ref2 = 0.0, err2 = 0.0;
    for (size_t k = 0; k < idx.size(); ++k) {
      const size_t i = idx[k];
      double hp1 = 0, hm1 = 0, hp2 = 0, hm2 = 0;
      const double lp1 = detail::loss_at(x, i, step, loss, &hp1), lm1 = detail::loss_at(x, i, -step, loss, &hm1);
      const double lp2 = detail::loss_at(x, i, step / 2, loss, &hp2);
      const double lm2 = detail::loss_at(x, i, -step / 2, loss, &hm2);
      const double w1 = hp1 - hm1, w2 = hp2 - hm2;  // the steps as stored
      const double d1 = (lp1 - lm1) / w1, d2 = (lp2 - lm2) / w2;
      nu[k] = d2 + (d2 - d1) / 3.0;  // Richardson: the h² terms cancel
      // Noise of the extrapolation (4/3)·d2 − (1/3)·d1, each a difference of two noisy losses;
      // |d2 − d1|/3 is the truncation error of d2, a bound on that of the extrapolation.
      const double noise = r.loss_noise * std::sqrt(2.0) * std::hypot(4.0 / (3.0 * w2), 1.0 / (3.0 * w1));
      er[k] = o.noise_sigmas * noise + std::fabs(d2 - d1) / 3.0;
      ref2 += nu[k] * nu[k];
      err2 += er[k] * er[k];
    }
    return ref2 > 0.0 ? std::sqrt(err2 / ref2) : 0.0;
  };
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);  // hundreds of tiny evaluations: waking threads costs more than the work
  double unc = estimate(h, num, err);
  // Step chosen per tensor: when noise (too small a step) or curvature (too large) leaves the
  // estimate coarse, a step twice or half as large may resolve the gradient better.
  if (unc > 0.5 * o.l2_tol) {
    std::vector<double> num2(idx.size()), err2(idx.size());
    for (double h2 : {2.0 * h, 0.5 * h}) {
      const double u2 = estimate(h2, num2, err2);
      if (u2 > 0.0 && (unc == 0.0 || u2 < unc)) {
        unc = u2;
        r.step = h2;
        num.swap(num2);
        err.swap(err2);
      }
    }
  }
  omp_set_num_threads(threads);

  double max_num = 0.0, diff2 = 0.0, ref2 = 0.0, err2 = 0.0;
  for (size_t k = 0; k < idx.size(); ++k) {
    const double a = analytic[idx[k]];
    max_num = std::max(max_num, std::fabs(num[k]));
    diff2 += (num[k] - a) * (num[k] - a);
    ref2 += num[k] * num[k];
    err2 += err[k] * err[k];
  }
  if (!(max_num > 0.0)) {
    r.failures.push_back(what + ": the numeric gradient is identically zero (the check cannot fail)");
    return r;
  }
  r.rel_l2 = std::sqrt(diff2 / ref2);
  r.rel_uncertainty = std::sqrt(err2 / ref2);
  const std::string noise_note = " (step " + detail::fmt_double(r.step) + ", loss noise " +
                                 detail::fmt_double(r.loss_noise) + ")";
  if (r.rel_uncertainty > o.l2_tol) {
    r.failures.push_back(what + ": finite differences cannot resolve this gradient: estimated error " +
                         detail::fmt_double(r.rel_uncertainty) + " of its norm" + noise_note);
  }
  int bad = 0;
  for (size_t k = 0; k < idx.size() && bad < 5; ++k) {
    const double a = analytic[idx[k]];
    const double tol = err[k] + o.atol_frac * max_num + o.rtol * std::max(std::fabs(num[k]), std::fabs(a));
    if (std::fabs(num[k] - a) > tol) {
      r.failures.push_back(what + "[" + std::to_string(idx[k]) + "]: analytic " + detail::fmt_double(a) +
                           " vs numeric " + detail::fmt_double(num[k]) + " ± " + detail::fmt_double(tol) +
                           noise_note);
      ++bad;
    }
  }
  if (r.rel_l2 > o.l2_tol + r.rel_uncertainty) {
    r.failures.push_back(what + ": relative L2 error " + detail::fmt_double(r.rel_l2) + " above " +
                         detail::fmt_double(o.l2_tol) + " + estimated error " +
                         detail::fmt_double(r.rel_uncertainty) + noise_note);
  }
  return r;
}

// check_gradient, failing the current test with each of its findings.
inline void expect_gradient(const std::string& what, float* x, size_t n, const float* analytic,
                            const std::function<double()>& loss, const GradCheckOptions& o = {}) {
  const GradCheckReport r = check_gradient(what, x, n, analytic, loss, o);
  for (const std::string& f : r.failures) ADD_FAILURE() << f;
}

}  // namespace trainer_test
