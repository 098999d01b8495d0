// LoRA forward kernels with rank-independent rounding (see lora_kernels.h). AVX2+FMA register-blocked
// paths and a portable path that performs the very same operations (lane-wise fma, the same
// reduction tree), so both give identical bits. Parallel over rows of x with OpenMP.
#include "trainer/lora/kernels.h"

#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NS_LORA_AVX2 1
#endif

namespace trainer {
namespace {

constexpr int64_t kRowsPerTask = 4;

#if defined(NS_LORA_AVX2)

// Sum of 8 lanes in the fixed tree ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)).
inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}

inline __m256i tail_mask(int64_t n) {  // lanes [0, n) on, n in 1..7
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), idx);
}

// MB rows of x against JB rows of A.
template <int MB, int JB>
inline void down_block(float* u, const float* x, const float* a, int64_t in, int r, int64_t m0, int j0) {
  __m256 acc[MB][JB];
  for (int p = 0; p < MB; ++p)
    for (int q = 0; q < JB; ++q) acc[p][q] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= in; i += 8) {
    __m256 av[JB];
    for (int q = 0; q < JB; ++q) av[q] = _mm256_loadu_ps(a + (j0 + q) * in + i);
    for (int p = 0; p < MB; ++p) {
      const __m256 xv = _mm256_loadu_ps(x + (m0 + p) * in + i);
      for (int q = 0; q < JB; ++q) acc[p][q] = _mm256_fmadd_ps(xv, av[q], acc[p][q]);
    }
  }
  if (i < in) {
    const __m256i mask = tail_mask(in - i);
    __m256 av[JB];
    for (int q = 0; q < JB; ++q) av[q] = _mm256_maskload_ps(a + (j0 + q) * in + i, mask);
    for (int p = 0; p < MB; ++p) {
      const __m256 xv = _mm256_maskload_ps(x + (m0 + p) * in + i, mask);
      for (int q = 0; q < JB; ++q) acc[p][q] = _mm256_fmadd_ps(xv, av[q], acc[p][q]);
    }
  }
  for (int p = 0; p < MB; ++p)
    for (int q = 0; q < JB; ++q) u[(m0 + p) * r + j0 + q] = hsum8(acc[p][q]);
}

template <int MB>
inline void down_rows(float* u, const float* x, const float* a, int64_t in, int r, int64_t m0) {
  int j = 0;
  for (; j + 2 <= r; j += 2) down_block<MB, 2>(u, x, a, in, r, m0, j);
  if (j < r) down_block<MB, 1>(u, x, a, in, r, m0, j);
}

// MB rows of y, VB vectors of 8 columns starting at o0.
template <int MB, int VB>
inline void up_block(float* y, const float* u, const float* bt, float scale, int64_t out, int r, int64_t m0,
                     int64_t o0) {
  __m256 acc[MB][VB];
  for (int p = 0; p < MB; ++p)
    for (int v = 0; v < VB; ++v) acc[p][v] = _mm256_setzero_ps();
  for (int j = 0; j < r; ++j) {
    __m256 bv[VB];
    for (int v = 0; v < VB; ++v) bv[v] = _mm256_loadu_ps(bt + j * out + o0 + 8 * v);
    for (int p = 0; p < MB; ++p) {
      const __m256 uv = _mm256_broadcast_ss(u + (m0 + p) * r + j);
      for (int v = 0; v < VB; ++v) acc[p][v] = _mm256_fmadd_ps(uv, bv[v], acc[p][v]);
    }
  }
  const __m256 s = _mm256_set1_ps(scale);
  for (int p = 0; p < MB; ++p)
    for (int v = 0; v < VB; ++v) {
      float* dst = y + (m0 + p) * out + o0 + 8 * v;
      _mm256_storeu_ps(dst, _mm256_fmadd_ps(s, acc[p][v], _mm256_loadu_ps(dst)));
    }
}

template <int MB>
inline void up_rows(float* y, const float* u, const float* bt, float scale, int64_t out, int r, int64_t m0) {
  int64_t o = 0;
  for (; o + 24 <= out; o += 24) up_block<MB, 3>(y, u, bt, scale, out, r, m0, o);
  for (; o + 8 <= out; o += 8) up_block<MB, 1>(y, u, bt, scale, out, r, m0, o);
  for (; o < out; ++o)  // scalar columns: the same fma sequence as one vector lane
    for (int p = 0; p < MB; ++p) {
      float acc = 0.0f;
      for (int j = 0; j < r; ++j) acc = std::fma(u[(m0 + p) * r + j], bt[j * out + o], acc);
      y[(m0 + p) * out + o] = std::fma(scale, acc, y[(m0 + p) * out + o]);
    }
}

#else  // portable path: the same operations, lane by lane

inline float hsum8(const float v[8]) {
  const float s0 = v[0] + v[4], s1 = v[1] + v[5], s2 = v[2] + v[6], s3 = v[3] + v[7];
  return (s0 + s2) + (s1 + s3);
}

template <int MB>
inline void down_rows(float* u, const float* x, const float* a, int64_t in, int r, int64_t m0) {
  for (int p = 0; p < MB; ++p)
    for (int j = 0; j < r; ++j) {
      float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t i = 0; i < in; ++i) lanes[i % 8] = std::fma(x[(m0 + p) * in + i], a[j * in + i], lanes[i % 8]);
      u[(m0 + p) * r + j] = hsum8(lanes);
    }
}

template <int MB>
inline void up_rows(float* y, const float* u, const float* bt, float scale, int64_t out, int r, int64_t m0) {
  for (int p = 0; p < MB; ++p)
    for (int64_t o = 0; o < out; ++o) {
      float acc = 0.0f;
      for (int j = 0; j < r; ++j) acc = std::fma(u[(m0 + p) * r + j], bt[j * out + o], acc);
      y[(m0 + p) * out + o] = std::fma(scale, acc, y[(m0 + p) * out + o]);
    }
}

#endif

}  // namespace

void lora_down_forward(float* u, const float* x, const float* a, int64_t M, int64_t in, int r) {
  const int64_t n_tasks = (M + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel for schedule(static) if (M * in * r >= (1 << 16))
  for (int64_t t = 0; t < n_tasks; ++t) {
    const int64_t m0 = t * kRowsPerTask;
    if (m0 + kRowsPerTask <= M) {
      down_rows<kRowsPerTask>(u, x, a, in, r, m0);
    } else {
      for (int64_t m = m0; m < M; ++m) down_rows<1>(u, x, a, in, r, m);
    }
  }
}

void lora_up_forward(float* y, const float* u, const float* bt, float scale, int64_t M, int64_t out, int r) {
  const int64_t n_tasks = (M + kRowsPerTask - 1) / kRowsPerTask;
#pragma omp parallel for schedule(static) if (M * out * r >= (1 << 16))
  for (int64_t t = 0; t < n_tasks; ++t) {
    const int64_t m0 = t * kRowsPerTask;
    if (m0 + kRowsPerTask <= M) {
      up_rows<kRowsPerTask>(y, u, bt, scale, out, r, m0);
    } else {
      for (int64_t m = m0; m < M; ++m) up_rows<1>(y, u, bt, scale, out, r, m);
    }
  }
}

}  // namespace trainer
