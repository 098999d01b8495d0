// Causal multi-head self-attention with grouped KV heads and an optional sliding window, forward and
// backward. Per (batch, head) the score and value products go through single-threaded sgemm inside
// an OpenMP loop (OpenBLAS runs serially inside a parallel region); the softmax is our own loop.
// Reference: Vaswani et al. 2017 (scaled dot-product attention); GQA as Ainslie et al. 2023.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "trainer/kernels.h"
#include "trainer/simd_math.h"

namespace trainer {

namespace {

// The first visible key position for query t.
inline int first_visible(int t, int window) { return window > 0 ? std::max(0, t - window + 1) : 0; }

// Masked, numerically stable softmax of one row of scores in place: entries outside [lo, hi] become 0.
void softmax_row(float* p, int lo, int hi, int T) {
  float mx = p[lo];
  for (int s = lo; s <= hi; ++s) mx = std::max(mx, p[s]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int s = lo; s <= hi; ++s) {
    const float e = fast_expf(p[s] - mx);
    p[s] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
#pragma omp simd
  for (int s = lo; s <= hi; ++s) p[s] *= inv;
  for (int s = 0; s < lo; ++s) p[s] = 0.0f;
  for (int s = hi + 1; s < T; ++s) p[s] = 0.0f;
}

}  // namespace

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v, int B, int T, int H,
                       int Hkv, int Dh, int window) {
  CHECK(H % Hkv == 0);
  const int group = H / Hkv;
  const int ldq = H * Dh;
  const int ldkv = Hkv * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const int tasks = B * H;
  // With fewer tasks than threads, run the loop serially and let sgemm use the threads instead.
  const bool par = tasks >= omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int task = 0; task < tasks; ++task) {
    const int b = task / H;
    const int h = task % H;
    const int g = h / group;
    const float* Q = q + static_cast<int64_t>(b) * T * ldq + h * Dh;     // (T, Dh) stride ldq
    const float* K = k + static_cast<int64_t>(b) * T * ldkv + g * Dh;    // (T, Dh) stride ldkv
    const float* Vv = v + static_cast<int64_t>(b) * T * ldkv + g * Dh;   // (T, Dh) stride ldkv
    float* P = probs + static_cast<int64_t>(task) * T * T;               // (T, T)
    float* O = out + static_cast<int64_t>(b) * T * ldq + h * Dh;         // (T, Dh) stride ldq
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dh, scale, Q, ldq, K, ldkv, 0.0f, P, T);
    for (int t = 0; t < T; ++t) softmax_row(P + static_cast<int64_t>(t) * T, first_visible(t, window), t, T);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, T, 1.0f, P, T, Vv, ldkv, 0.0f, O, ldq);
  }
}

// Per (batch, KV head), over the query heads of its group (so dk, dv of a KV head have one writer):
//   dP = dO · Vᵀ;  dV += Pᵀ · dO;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale;  dQ += dS · K;  dK += dSᵀ · Q.
void attention_backward(float* dq, float* dk, float* dv, float* probs, float* scratch, int scratch_threads,
                        const float* dout, const float* q, const float* k, const float* v, int B, int T, int H,
                        int Hkv, int Dh, int window) {
  CHECK(H % Hkv == 0);
  const int group = H / Hkv;
  const int ldq = H * Dh;
  const int ldkv = Hkv * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const int tasks = B * Hkv;
  const bool par = tasks >= omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int task = 0; task < tasks; ++task) {
    const int tid = par ? omp_get_thread_num() : 0;
    CHECK(tid < scratch_threads);
    float* dP = scratch + static_cast<int64_t>(tid) * T * T;  // (T, T)
    const int b = task / Hkv;
    const int g = task % Hkv;
    const float* K = k + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    const float* Vv = v + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    float* dK = dk + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    float* dV = dv + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const float* Q = q + static_cast<int64_t>(b) * T * ldq + h * Dh;
      const float* dO = dout + static_cast<int64_t>(b) * T * ldq + h * Dh;
      float* dQ = dq + static_cast<int64_t>(b) * T * ldq + h * Dh;
      float* P = probs + (static_cast<int64_t>(b) * H + h) * T * T;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, Dh, 1.0f, dO, ldq, Vv, ldkv, 0.0f, dP, T);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dh, T, 1.0f, P, T, dO, ldq, 1.0f, dV, ldkv);
      for (int t = 0; t < T; ++t) {
        float* p = P + static_cast<int64_t>(t) * T;
        const float* dp = dP + static_cast<int64_t>(t) * T;
        const int lo = first_visible(t, window);
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int s = lo; s <= t; ++s) dot += p[s] * dp[s];
#pragma omp simd
        for (int s = lo; s <= t; ++s) p[s] = p[s] * (dp[s] - dot) * scale;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, Dh, T, 1.0f, P, T, K, ldkv, 1.0f, dQ, ldq);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, Dh, T, 1.0f, P, T, Q, ldq, 1.0f, dK, ldkv);
    }
  }
}

}  // namespace trainer
