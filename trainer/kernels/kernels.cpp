// The engine's elementwise, normalisation, embedding, RoPE, SwiGLU, cross-entropy and linear ops
// (forward and backward side by side). Attention lives in kernels_attention.cpp.
// References: RMSNorm (Zhang & Sennrich 2019), RoPE (Su et al. 2021, rotate-half as GPT-NeoX),
// SwiGLU (Shazeer 2020), softmax cross-entropy as torch.nn.functional.cross_entropy.
// Comparisons may not trap here (no FP exception flags are read anywhere), so GCC can if-convert
// the clamps and max() of the exp/softmax loops and vectorize them; with the default
// -ftrapping-math those loops stay scalar (about 8x slower for SwiGLU and the softmaxes).
// The row loops of RMSNorm, SwiGLU and cross-entropy are built 16- and 8-wide (simd_dispatch.h).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <utility>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/kernels/simd_dispatch.h"
#include "trainer/kernels/simd_math.h"

namespace trainer {

// ---------------------------------------------------------------------------------------------
// linear

void matmul_forward(float* out, const float* inp, const float* weight, int N, int I, int O, bool accumulate) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, I, 1.0f, inp, I, weight, I, accumulate ? 1.0f : 0.0f,
              out, O);
}

void matmul_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight, int N,
                     int I, int O) {
  if (dinp) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, I, O, 1.0f, dout, O, weight, I, 1.0f, dinp, I);
  if (dweight) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, I, N, 1.0f, dout, O, inp, I, 1.0f, dweight, I);
  }
}

// ---------------------------------------------------------------------------------------------
// embedding

void embedding_forward(float* out, const int32_t* tokens, const float* table, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    std::memcpy(out + static_cast<int64_t>(n) * C, table + static_cast<int64_t>(tokens[n]) * C, sizeof(float) * C);
  }
}

// Parallel over column blocks, so two rows with the same token never race.
void embedding_backward(float* dtable, const float* dout, const int32_t* tokens, int N, int C) {
  constexpr int kCols = 32;
  const int nblocks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static)
  for (int cb = 0; cb < nblocks; ++cb) {
    const int c0 = cb * kCols;
    const int c1 = std::min(C, c0 + kCols);
    for (int n = 0; n < N; ++n) {
      float* d = dtable + static_cast<int64_t>(tokens[n]) * C;
      const float* g = dout + static_cast<int64_t>(n) * C;
#pragma omp simd
      for (int c = c0; c < c1; ++c) d[c] += g[c];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

namespace {

// One row: y = x · r · weight with r = 1/rms(x); returns r.
NS_SIMD_BODY float rmsnorm_row(float* y, const float* x, const float* weight, int C, float eps) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int c = 0; c < C; ++c) ss += x[c] * x[c];
  const float r = 1.0f / std::sqrt(ss / C + eps);
#pragma omp simd
  for (int c = 0; c < C; ++c) y[c] = x[c] * r * weight[c];
  return r;
}
NS_SIMD_WIDE float rmsnorm_row_wide(float* y, const float* x, const float* w, int C, float eps) {
  return rmsnorm_row(y, x, w, C, eps);
}
NS_SIMD_NARROW float rmsnorm_row_narrow(float* y, const float* x, const float* w, int C, float eps) {
  return rmsnorm_row(y, x, w, C, eps);
}

// One row of the input gradient: dx += r·dy·weight − r³·x·Σ(dy·weight·x)/C.
NS_SIMD_BODY void rmsnorm_grad_row(float* dx, const float* dy, const float* x, const float* weight, float r, int C) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int c = 0; c < C; ++c) dot += dy[c] * weight[c] * x[c];
  const float k = r * r * r * dot / C;
#pragma omp simd
  for (int c = 0; c < C; ++c) dx[c] += r * dy[c] * weight[c] - k * x[c];
}
NS_SIMD_WIDE void rmsnorm_grad_row_wide(float* dx, const float* dy, const float* x, const float* w, float r, int C) {
  rmsnorm_grad_row(dx, dy, x, w, r, C);
}
NS_SIMD_NARROW void rmsnorm_grad_row_narrow(float* dx, const float* dy, const float* x, const float* w, float r, int C) {
  rmsnorm_grad_row(dx, dy, x, w, r, C);
}

}  // namespace

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int N, int C, float eps) {
  const auto row = pick_simd(rmsnorm_row_wide, rmsnorm_row_narrow);
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n)
    rstd[n] = row(out + static_cast<int64_t>(n) * C, inp + static_cast<int64_t>(n) * C, weight, C, eps);
}

// dx_j = r * g_j - r³ * x_j * Σ_i(g_i x_i) / C with g = dout * weight;  dweight_c = Σ_n dout x r.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* rstd,
                      const float* weight, int N, int C) {
  const auto grad_row = pick_simd(rmsnorm_grad_row_wide, rmsnorm_grad_row_narrow);
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
    for (int n = 0; n < N; ++n) {
      const int64_t at = static_cast<int64_t>(n) * C;
      grad_row(dinp + at, dout + at, inp + at, weight, rstd[n], C);
    }
    if (dweight) {
      constexpr int kCols = 32;
      const int nblocks = (C + kCols - 1) / kCols;
#pragma omp for schedule(static)
      for (int cb = 0; cb < nblocks; ++cb) {
        const int c0 = cb * kCols;
        const int c1 = std::min(C, c0 + kCols);
        float acc[kCols] = {};
        for (int n = 0; n < N; ++n) {
          const float* x = inp + static_cast<int64_t>(n) * C;
          const float* dy = dout + static_cast<int64_t>(n) * C;
          const float r = rstd[n];
#pragma omp simd
          for (int c = c0; c < c1; ++c) acc[c - c0] += dy[c] * x[c] * r;
        }
        for (int c = c0; c < c1; ++c) dweight[c] += acc[c - c0];
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// RoPE

double rope_inv_freq(int i, int Dh, float theta, const RopeScaling& s) {
  const double f = std::pow(static_cast<double>(theta), -2.0 * i / Dh);
  if (s.factor == 0.0f) return f;
  const double factor = s.factor, low = s.low_freq_factor, high = s.high_freq_factor, L = s.original_context;
  const double wavelen = 2.0 * std::numbers::pi / f;
  if (wavelen < L / high) return f;              // high frequencies: unchanged
  if (wavelen > L / low) return f / factor;      // low frequencies: divided by the factor
  const double smooth = (L / wavelen - low) / (high - low);  // between: a blend of the two
  return (1.0 - smooth) * f / factor + smooth * f;
}

void rope_row(float* cos_row, float* sin_row, int pos, int Dh, float theta, const RopeScaling& scaling) {
  for (int i = 0; i < Dh / 2; ++i) {
    const double angle = pos * rope_inv_freq(i, Dh, theta, scaling);
    cos_row[i] = static_cast<float>(std::cos(angle));
    sin_row[i] = static_cast<float>(std::sin(angle));
  }
}

void rope_tables(float* cos_table, float* sin_table, int T, int Dh, float theta, const RopeScaling& scaling) {
  const int half = Dh / 2;
  for (int i = 0; i < half; ++i) {
    const double f = rope_inv_freq(i, Dh, theta, scaling);
    for (int t = 0; t < T; ++t) {
      const double angle = t * f;
      cos_table[int64_t{t} * half + i] = static_cast<float>(std::cos(angle));
      sin_table[int64_t{t} * half + i] = static_cast<float>(std::sin(angle));
    }
  }
}

namespace {
// sign = +1 rotates by +angle (forward), -1 by -angle (backward: the transpose of the rotation).
// positions (B, T) pick each token's table row; null = row t.
void rope_apply(float* x, const float* cos_table, const float* sin_table, const int32_t* positions, int B, int T,
                int nh, int Dh, int rot, float sign) {
  const int half = (rot > 0 ? rot : Dh) / 2;
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b) {
    for (int t = 0; t < T; ++t) {
      const int p = positions ? positions[static_cast<int64_t>(b) * T + t] : t;
      const float* cs = cos_table + static_cast<int64_t>(p) * half;
      const float* sn = sin_table + static_cast<int64_t>(p) * half;
      float* row = x + (static_cast<int64_t>(b) * T + t) * nh * Dh;
      for (int h = 0; h < nh; ++h) {
        float* x1 = row + h * Dh;
        float* x2 = x1 + half;
#pragma omp simd
        for (int i = 0; i < half; ++i) {
          const float a = x1[i], c = x2[i], s = sign * sn[i];
          x1[i] = a * cs[i] - c * s;
          x2[i] = c * cs[i] + a * s;
        }
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const float* cos_table, const float* sin_table, int B, int T, int nh, int Dh,
                  const int32_t* positions, int rot) {
  rope_apply(x, cos_table, sin_table, positions, B, T, nh, Dh, rot, 1.0f);
}

void rope_backward(float* dx, const float* cos_table, const float* sin_table, int B, int T, int nh, int Dh,
                   const int32_t* positions, int rot) {
  rope_apply(dx, cos_table, sin_table, positions, B, T, nh, Dh, rot, -1.0f);
}

// ---------------------------------------------------------------------------------------------
// SwiGLU

namespace {

// This thread's share [i0, i1) of n elements, cut on multiples of 16 (whole vectors).
std::pair<int64_t, int64_t> thread_share(int64_t n) {
  const int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
  const int64_t per = ((n + threads - 1) / threads + 15) / 16 * 16;
  return {std::min(n, t * per), std::min(n, (t + 1) * per)};
}

NS_SIMD_BODY void swiglu_span(float* h, const float* gate, const float* up, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) h[i] = fast_siluf(gate[i]) * up[i];
}
NS_SIMD_WIDE void swiglu_span_wide(float* h, const float* g, const float* u, int64_t n) { swiglu_span(h, g, u, n); }
NS_SIMD_NARROW void swiglu_span_narrow(float* h, const float* g, const float* u, int64_t n) { swiglu_span(h, g, u, n); }

// silu'(g) = s (1 + g (1 - s)) with s = sigmoid(g).
NS_SIMD_BODY void swiglu_grad_span(float* dgate, float* dup, const float* dh, const float* gate, const float* up,
                                   int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float s = fast_sigmoidf(g);
    dgate[i] += dh[i] * up[i] * s * (1.0f + g * (1.0f - s));
    dup[i] += dh[i] * g * s;
  }
}
NS_SIMD_WIDE void swiglu_grad_span_wide(float* dg, float* du, const float* dh, const float* g, const float* u,
                                        int64_t n) {
  swiglu_grad_span(dg, du, dh, g, u, n);
}
NS_SIMD_NARROW void swiglu_grad_span_narrow(float* dg, float* du, const float* dh, const float* g, const float* u,
                                            int64_t n) {
  swiglu_grad_span(dg, du, dh, g, u, n);
}

}  // namespace

void swiglu_forward(float* h, const float* gate, const float* up, int64_t n) {
  const auto span = pick_simd(swiglu_span_wide, swiglu_span_narrow);
#pragma omp parallel
  {
    const auto [i0, i1] = thread_share(n);
    span(h + i0, gate + i0, up + i0, i1 - i0);
  }
}

void swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n) {
  const auto span = pick_simd(swiglu_grad_span_wide, swiglu_grad_span_narrow);
#pragma omp parallel
  {
    const auto [i0, i1] = thread_share(n);
    span(dgate + i0, dup + i0, dh + i0, gate + i0, up + i0, i1 - i0);
  }
}

// ---------------------------------------------------------------------------------------------
// cross-entropy

namespace {

// log Σ exp(x) of one row of logits.
NS_SIMD_BODY float logsumexp_row(const float* x, int V) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int v = 0; v < V; ++v) mx = std::max(mx, x[v]);
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int v = 0; v < V; ++v) sum += fast_expf(x[v] - mx);
  return mx + std::log(sum);
}
NS_SIMD_WIDE float logsumexp_row_wide(const float* x, int V) { return logsumexp_row(x, V); }
NS_SIMD_NARROW float logsumexp_row_narrow(const float* x, int V) { return logsumexp_row(x, V); }

// x = scale · softmax(x), from the row's log Σ exp.
NS_SIMD_BODY void softmax_scaled_row(float* x, float lse, float scale, int V) {
#pragma omp simd
  for (int v = 0; v < V; ++v) x[v] = scale * fast_expf(x[v] - lse);
}
NS_SIMD_WIDE void softmax_scaled_row_wide(float* x, float l, float s, int V) { softmax_scaled_row(x, l, s, V); }
NS_SIMD_NARROW void softmax_scaled_row_narrow(float* x, float l, float s, int V) { softmax_scaled_row(x, l, s, V); }

}  // namespace

double crossentropy_forward(float* lse, const float* logits, const int32_t* targets, int N, int V) {
  const auto row = pick_simd(logsumexp_row_wide, logsumexp_row_narrow);
  double total = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int n = 0; n < N; ++n) {
    const float* x = logits + static_cast<int64_t>(n) * V;
    const float l = row(x, V);
    lse[n] = l;
    const int32_t tgt = targets[n];
    CHECK(tgt < V);
    if (tgt >= 0) total += static_cast<double>(l) - x[tgt];  // a negative target carries no loss
  }
  return total;
}

int64_t count_trained_targets(const int32_t* targets, int64_t N) {
  int64_t n = 0;
  for (int64_t i = 0; i < N; ++i) n += targets[i] >= 0;
  return n;
}

void crossentropy_backward_inplace(float* logits, const float* lse, const int32_t* targets, int N, int V,
                                   float scale) {
  const auto row = pick_simd(softmax_scaled_row_wide, softmax_scaled_row_narrow);
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* x = logits + static_cast<int64_t>(n) * V;
    if (targets[n] < 0) {  // not trained: no gradient
      std::memset(x, 0, sizeof(float) * V);
      continue;
    }
    row(x, lse[n], scale, V);
    x[targets[n]] -= scale;
  }
}

// ---------------------------------------------------------------------------------------------
// bias

void bias_forward(float* x, const float* bias, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int n = 0; n < N; ++n) {
    float* row = x + static_cast<int64_t>(n) * C;
#pragma omp simd
    for (int c = 0; c < C; ++c) row[c] += bias[c];
  }
}

void bias_backward(float* dbias, const float* dout, int N, int C) {
  constexpr int kCols = 32;  // each thread sums whole columns: one writer per dbias entry
  const int nblocks = (C + kCols - 1) / kCols;
#pragma omp parallel for schedule(static)
  for (int cb = 0; cb < nblocks; ++cb) {
    const int c0 = cb * kCols, c1 = std::min(C, c0 + kCols);
    float acc[kCols] = {};
    for (int n = 0; n < N; ++n) {
      const float* row = dout + static_cast<int64_t>(n) * C;
#pragma omp simd
      for (int c = c0; c < c1; ++c) acc[c - c0] += row[c];
    }
    for (int c = c0; c < c1; ++c) dbias[c] += acc[c - c0];
  }
}

// ---------------------------------------------------------------------------------------------
// elementwise

void add_inplace(float* a, const float* b, int64_t n) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) a[i] += b[i];
}

namespace {
constexpr int64_t kChunk = 1 << 18;  // 1 MiB: smaller copies are not worth waking a thread for
}

void copy_floats(float* dst, const float* src, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    std::memcpy(dst + i0, src + i0, sizeof(float) * std::min(kChunk, n - i0));
  }
}

void zero_floats(float* dst, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    std::memset(dst + i0, 0, sizeof(float) * std::min(kChunk, n - i0));
  }
}

}  // namespace trainer
