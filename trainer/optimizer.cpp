// AdamW, the schedule and gradient clipping. One OpenMP region per update; each tensor is split
// across the threads (`omp for nowait`), so small tensors cost no extra fork.
#include "trainer/optimizer.h"

#include <algorithm>
#include <cmath>

#include <omp.h>

#include "common/check.h"

namespace trainer {

float lr_at(const LrSchedule& s, int64_t step) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) {
    return s.lr * static_cast<float>(step + 1) / static_cast<float>(s.warmup_steps);
  }
  const int64_t decay_steps = s.total_steps - s.warmup_steps;
  if (decay_steps <= 0 || step >= s.total_steps) return std::min(s.lr, s.min_lr);
  const double progress = static_cast<double>(step - s.warmup_steps) / static_cast<double>(decay_steps);
  const double cosine = 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
  return static_cast<float>(s.min_lr + (s.lr - s.min_lr) * cosine);
}

double global_grad_norm(const std::vector<ParamRef>& params) {
  double total = 0.0;
#pragma omp parallel reduction(+ : total)
  {
    const int nth = omp_get_num_threads(), tid = omp_get_thread_num();
    for (const ParamRef& p : params) {
      const float* g = p.grad;
      const int64_t lo = p.numel * tid / nth, hi = p.numel * (tid + 1) / nth;
      double acc = 0.0;
#pragma omp simd reduction(+ : acc)
      for (int64_t i = lo; i < hi; ++i) acc += static_cast<double>(g[i]) * g[i];
      total += acc;
    }
  }
  return std::sqrt(total);
}

float clip_factor(double grad_norm, float max_norm) {
  if (max_norm <= 0.0f) return 1.0f;
  const double f = max_norm / (grad_norm + 1e-6);
  return f < 1.0 ? static_cast<float>(f) : 1.0f;
}

void adamw_update(const std::vector<ParamRef>& params, const AdamWConfig& c, float lr, int64_t t, float grad_scale) {
  CHECK(t >= 1);
  const float b1 = c.beta1, b2 = c.beta2, eps = c.eps;
  const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b1), static_cast<double>(t)));
  const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(b2), static_cast<double>(t)));
  const float step_size = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  for (const ParamRef& p : params) CHECK_MSG(p.grad && p.m && p.v, p.spec->name.c_str());
#pragma omp parallel
  for (const ParamRef& p : params) {
    float* w = p.weight;
    const float* g = p.grad;
    float* m = p.m;
    float* v = p.v;
    const float decay = p.spec->decay ? 1.0f - lr * c.weight_decay : 1.0f;
    const int64_t n = p.numel;
#pragma omp for simd schedule(static) nowait
    for (int64_t i = 0; i < n; ++i) {
      const float gi = g[i] * grad_scale;
      const float mi = b1 * m[i] + (1.0f - b1) * gi;
      const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i] * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  }
}

}  // namespace trainer
