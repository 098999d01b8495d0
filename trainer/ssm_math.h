// Pointwise math for the SSM and MoE kernels: an exp that GCC vectorizes (glibc's expf only
// vectorizes under -ffast-math), and SiLU / sigmoid / softplus built on it. Inline, header-only.
// Not a general libm replacement: fast_exp clamps its argument to [-87, 88] (results stay normal).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace trainer {

// exp(x) with relative error ~1.5e-7 for x in [-87, 88]: x = n·ln2 + r with |r| <= ln2/2
// (Cody–Waite split of ln2), degree-6 Taylor polynomial for e^r, 2^n built in the exponent bits.
// Branch-free, so loops calling it vectorize (AVX2: 8 lanes).
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // Round to nearest by adding and removing 1.5·2^23 (vectorizes; std::nearbyint does not).
  constexpr float kRound = 12582912.0f;
  const float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187045e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

// silu(x) = x·σ(x).
inline float fast_silu(float x) { return x / (1.0f + fast_exp(-x)); }

// d silu / dx = σ(x)·(1 + x·(1 − σ(x))).
inline float fast_silu_grad(float x) {
  const float s = fast_sigmoid(x);
  return s * (1.0f + x * (1.0f - s));
}

// softplus(x) = log(1 + e^x), linear above 20 as in PyTorch's default threshold.
inline float softplus(float x) { return x > 20.0f ? x : std::log1p(fast_exp(x)); }

// softplus'(x) = σ(x), written in terms of y = softplus(x): σ(x) = 1 − e^(−y).
inline float softplus_grad_from_output(float y) { return -std::expm1(-y); }

}  // namespace trainer
