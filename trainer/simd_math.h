// Branch-free float math that GCC auto-vectorizes (AVX2 on x86, NEON on arm): exp, sigmoid, SiLU.
// glibc's vector expf is only used under -ffast-math, which this project does not use; these are
// plain inline functions written so `#pragma omp simd` loops over them become vector code.
// Accuracy: fast_expf is within ~2 ulp of expf on [-87, 88] (Cephes polynomial, range reduction by
// ln 2); it returns ~1e-38 rather than 0 below -87.3 and saturates above 88.3.
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

#pragma omp declare simd
inline float fast_siluf(float x) { return x * fast_sigmoidf(x); }

}  // namespace trainer
