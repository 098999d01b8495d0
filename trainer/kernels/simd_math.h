// Branch-free float math that GCC auto-vectorizes (AVX2 on x86, NEON on arm): exp, sigmoid, SiLU,
// softplus. glibc's vector expf/log1pf are only used under -ffast-math, which this project does not
// use; these are plain inline functions written so `#pragma omp simd` loops over them become vector
// code (the file that calls them compiles with no-trapping-math so the clamps if-convert).
// Accuracy: fast_expf is within ~2 ulp of expf on [-87, 88] (Cephes polynomial, range reduction by
// ln 2); it returns ~1e-38 rather than 0 below -87.3 and saturates above 88.3. fast_softplusf is
// within ~3e-7 relative of log1p(exp(x)) everywhere, including its tiny values for x << 0.
#pragma once

#include <cstdint>
#include <cstring>

namespace trainer {

#pragma omp declare simd
inline float fast_expf(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.3f ? 88.3f : x;
  // n = round(x / ln 2) via the 1.5 * 2^23 trick (exact for |x / ln 2| < 2^22).
  const float kMagic = 12582912.0f;
  float n = (x * 1.44269504088896341f + kMagic) - kMagic;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

#pragma omp declare simd
inline float fast_sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

// silu(x) = x·σ(x).
#pragma omp declare simd
inline float fast_siluf(float x) { return x / (1.0f + fast_expf(-x)); }

// d silu / dx = σ(x)·(1 + x·(1 − σ(x))).
#pragma omp declare simd
inline float fast_silu_gradf(float x) {
  const float s = fast_sigmoidf(x);
  return s * (1.0f + x * (1.0f - s));
}

// log(1 + e) for e in [0, 1]: u = 1 + e is split as 2^k·f with f in [√½, √2), log f from the
// atanh series in s = (f − 1)/(f + 1) (|s| <= 0.172, terms to s⁹: error < 1e-9), and the rounding
// of 1 + e is undone by the factor e / (u − 1) (u − 1 is exact), so tiny e keep full precision.
#pragma omp declare simd
inline float fast_log1p_unit(float e) {
  const float u = 1.0f + e;
  const float um1 = u - 1.0f;
  const bool high = u > 1.41421356f;
  const float f = high ? 0.5f * u : u;
  const float s = (f - 1.0f) / (f + 1.0f);
  const float s2 = s * s;
  float p = 1.0f / 9.0f;
  p = p * s2 + 1.0f / 7.0f;
  p = p * s2 + 1.0f / 5.0f;
  p = p * s2 + 1.0f / 3.0f;
  p = p * s2 + 1.0f;
  const float log_u = 2.0f * s * p + (high ? 0.693147181f : 0.0f);
  return um1 == 0.0f ? e : log_u * (e / um1);
}

// softplus(x) = log(1 + e^x) = max(x, 0) + log(1 + e^−|x|).
#pragma omp declare simd
inline float fast_softplusf(float x) {
  const float ax = x < 0.0f ? -x : x;
  return (x > 0.0f ? x : 0.0f) + fast_log1p_unit(fast_expf(-ax));
}

// softplus'(x) = σ(x), written in terms of y = softplus(x): σ(x) = 1 − e^−y; for small y a series
// (y − y²/2 + y³/6 − y⁴/24 + y⁵/120, error < 2e-9 for y < 0.1) avoids the cancellation.
#pragma omp declare simd
inline float softplus_grad_from_output(float y) {
  float series = 1.0f / 120.0f;
  series = series * -y + 1.0f / 24.0f;
  series = series * -y + 1.0f / 6.0f;
  series = series * -y + 0.5f;
  series = series * -y + 1.0f;
  series *= y;
  return y < 0.1f ? series : 1.0f - fast_expf(-y);
}

}  // namespace trainer
