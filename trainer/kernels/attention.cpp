// Causal multi-head self-attention with grouped KV heads and an optional sliding window, forward and
// backward. Per (batch, head) the score and value products go through single-threaded sgemm inside
// an OpenMP loop (OpenBLAS runs serially inside a parallel region); the softmax is our own loop.
// Queries go in blocks of kRowBlock rows, and each block's products cover only the keys some row of
// the block can see (from the block's first visible key to its last row): the masked upper
// triangle, and the keys behind a sliding window or before a packed row's document start, are never
// computed.
// Reference: Vaswani et al. 2017 (scaled dot-product attention); GQA as Ainslie et al. 2023.
// Comparisons may not trap here (no FP exception flags are read anywhere), so GCC can if-convert
// the clamps and max() of the exp/softmax loops and vectorize them; with the default
// -ftrapping-math those loops stay scalar (about 8x slower for SwiGLU and the softmaxes).
// The softmax rows are built 16- and 8-wide (simd_dispatch.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/kernels/simd_dispatch.h"
#include "trainer/kernels/simd_math.h"

namespace trainer {

namespace {

// The first visible key position for query t: the window's limit and, with packed rows, the start of
// t's document (ds: the row's doc_start, or null). Both are non-decreasing in t.
inline int first_visible(int t, int window, const int32_t* ds) {
  const int lo = window > 0 ? std::max(0, t - window + 1) : 0;
  return ds ? std::max(lo, static_cast<int>(ds[t])) : lo;
}

// Query rows per block: rows [r0, r1) see keys [first_visible(r0, ...), r1) at most.
constexpr int kRowBlock = 64;

// Masked, numerically stable softmax of one row of scores in place: entries outside [lo, hi] become 0.
NS_SIMD_BODY void softmax_row(float* p, int lo, int hi, int T) {
  float mx = p[lo];
#pragma omp simd reduction(max : mx)
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
NS_SIMD_WIDE void softmax_row_wide(float* p, int lo, int hi, int T) { softmax_row(p, lo, hi, T); }
NS_SIMD_NARROW void softmax_row_narrow(float* p, int lo, int hi, int T) { softmax_row(p, lo, hi, T); }

// The softmax's backward over one row's visible keys [lo, hi]: p = p ⊙ (dp − Σ p ⊙ dp) · scale.
NS_SIMD_BODY void softmax_grad_row(float* p, const float* dp, int lo, int hi, float scale) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int s = lo; s <= hi; ++s) dot += p[s] * dp[s];
#pragma omp simd
  for (int s = lo; s <= hi; ++s) p[s] = p[s] * (dp[s] - dot) * scale;
}
NS_SIMD_WIDE void softmax_grad_row_wide(float* p, const float* dp, int lo, int hi, float scale) {
  softmax_grad_row(p, dp, lo, hi, scale);
}
NS_SIMD_NARROW void softmax_grad_row_narrow(float* p, const float* dp, int lo, int hi, float scale) {
  softmax_grad_row(p, dp, lo, hi, scale);
}

}  // namespace

void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v, int B, int T, int H,
                       int Hkv, int Dh, int window, const int32_t* doc_start) {
  CHECK(H % Hkv == 0);
  const int group = H / Hkv;
  const int ldq = H * Dh;
  const int ldkv = Hkv * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const int tasks = B * H;
  const auto softmax = pick_simd(softmax_row_wide, softmax_row_narrow);
  // With fewer tasks than threads, run the loop serially and let sgemm use the threads instead.
  const bool par = tasks >= omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int task = 0; task < tasks; ++task) {
    const int b = task / H;
    const int h = task % H;
    const int g = h / group;
    const int32_t* ds = doc_start ? doc_start + static_cast<int64_t>(b) * T : nullptr;
    const float* Q = q + static_cast<int64_t>(b) * T * ldq + h * Dh;     // (T, Dh) stride ldq
    const float* K = k + static_cast<int64_t>(b) * T * ldkv + g * Dh;    // (T, Dh) stride ldkv
    const float* Vv = v + static_cast<int64_t>(b) * T * ldkv + g * Dh;   // (T, Dh) stride ldkv
    float* P = probs + static_cast<int64_t>(task) * T * T;               // (T, T)
    float* O = out + static_cast<int64_t>(b) * T * ldq + h * Dh;         // (T, Dh) stride ldq
    for (int r0 = 0; r0 < T; r0 += kRowBlock) {
      const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
      const int lo = first_visible(r0, window, ds), keys = r1 - lo;
      float* Pb = P + static_cast<int64_t>(r0) * T + lo;  // (rows, keys) stride T
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, Dh, scale, Q + static_cast<int64_t>(r0) * ldq,
                  ldq, K + static_cast<int64_t>(lo) * ldkv, ldkv, 0.0f, Pb, T);
      // Each row's softmax also zeroes the columns outside its visible keys (never computed above).
      for (int t = r0; t < r1; ++t) softmax(P + static_cast<int64_t>(t) * T, first_visible(t, window, ds), t, T);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, Dh, keys, 1.0f, Pb, T,
                  Vv + static_cast<int64_t>(lo) * ldkv, ldkv, 0.0f, O + static_cast<int64_t>(r0) * ldq, ldq);
    }
  }
}

// Per (batch, KV head), over the query heads of its group (so dk, dv of a KV head have one writer):
//   dP = dO · Vᵀ;  dV += Pᵀ · dO;  dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale;  dQ += dS · K;  dK += dSᵀ · Q.
void attention_backward(float* dq, float* dk, float* dv, float* probs, float* scratch, int scratch_threads,
                        const float* dout, const float* q, const float* k, const float* v, int B, int T, int H,
                        int Hkv, int Dh, int window, const int32_t* doc_start) {
  CHECK(H % Hkv == 0);
  const int group = H / Hkv;
  const int ldq = H * Dh;
  const int ldkv = Hkv * Dh;
  const float scale = 1.0f / std::sqrt(static_cast<float>(Dh));
  const int tasks = B * Hkv;
  const auto softmax_grad = pick_simd(softmax_grad_row_wide, softmax_grad_row_narrow);
  const bool par = tasks >= omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (par)
  for (int task = 0; task < tasks; ++task) {
    const int tid = par ? omp_get_thread_num() : 0;
    CHECK(tid < scratch_threads);
    float* dP = scratch + static_cast<int64_t>(tid) * T * T;  // (T, T)
    const int b = task / Hkv;
    const int g = task % Hkv;
    const int32_t* ds = doc_start ? doc_start + static_cast<int64_t>(b) * T : nullptr;
    const float* K = k + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    const float* Vv = v + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    float* dK = dk + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    float* dV = dv + static_cast<int64_t>(b) * T * ldkv + g * Dh;
    for (int h = g * group; h < (g + 1) * group; ++h) {
      const float* Q = q + static_cast<int64_t>(b) * T * ldq + h * Dh;
      const float* dO = dout + static_cast<int64_t>(b) * T * ldq + h * Dh;
      float* dQ = dq + static_cast<int64_t>(b) * T * ldq + h * Dh;
      float* P = probs + (static_cast<int64_t>(b) * H + h) * T * T;
      for (int r0 = 0; r0 < T; r0 += kRowBlock) {
        const int r1 = std::min(T, r0 + kRowBlock), rows = r1 - r0;
        const int lo = first_visible(r0, window, ds), keys = r1 - lo;
        const int64_t qoff = static_cast<int64_t>(r0) * ldq, kvoff = static_cast<int64_t>(lo) * ldkv;
        const int64_t poff = static_cast<int64_t>(r0) * T + lo;  // block (rows, keys) of P and dP, stride T
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, Dh, 1.0f, dO + qoff, ldq, Vv + kvoff, ldkv,
                    0.0f, dP + poff, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, Dh, rows, 1.0f, P + poff, T, dO + qoff, ldq, 1.0f,
                    dV + kvoff, ldkv);
        // P is zero outside each row's visible keys, so the block products below see zeros there.
        for (int t = r0; t < r1; ++t)
          softmax_grad(P + static_cast<int64_t>(t) * T, dP + static_cast<int64_t>(t) * T, first_visible(t, window, ds),
                       t, scale);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, Dh, keys, 1.0f, P + poff, T, K + kvoff, ldkv,
                    1.0f, dQ + qoff, ldq);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, keys, Dh, rows, 1.0f, P + poff, T, Q + qoff, ldq, 1.0f,
                    dK + kvoff, ldkv);
      }
    }
  }
}

}  // namespace trainer
