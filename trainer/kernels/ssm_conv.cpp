// Causal depthwise conv1d of the SSM block (see ssm_kernels.h), forward and backward: rows of
// (B, T) are independent in the forward and in the input gradient; the weight and bias gradients
// are reductions over rows, split by channel chunks so no two threads write the same gradient.
// Float compares may not trap here, so GCC can if-convert the SiLU's exp clamps and vectorize it.
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cstring>

#include "trainer/kernels/simd_math.h"
#include "trainer/kernels/ssm.h"

namespace trainer {

namespace {

// Work is split into tiles of kRows rows (positions) by kChunk channels. Within a tile the loops
// run tap by tap with that tap's weights copied into a contiguous vector (the weight is stored
// (Di, K), so reading it per channel would stride by K and not vectorize).
constexpr int kRows = 16;
constexpr int kChunk = 64;

inline int chunks_of(int Di) { return (Di + kChunk - 1) / kChunk; }

// wj[c] = weight[d0 + c, j] for the channels [d0, d1).
inline void tap_weights(float* wj, const float* weight, int K, int j, int d0, int d1) {
  for (int d = d0; d < d1; ++d) wj[d - d0] = weight[d * K + j];
}

}  // namespace

void ssm_conv_forward(float* pre, float* act, const float* x, int ldx, const float* history,
                      const float* weight, const float* bias, int B, int T, int Di, int K,
                      const int32_t* doc_start) {
  const int rows = B * T, tiles = (rows + kRows - 1) / kRows, chunks = chunks_of(Di);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < tiles * chunks; ++task) {
    const int r0 = (task / chunks) * kRows, r1 = std::min(rows, r0 + kRows);
    const int d0 = (task % chunks) * kChunk, d1 = std::min(Di, d0 + kChunk), nd = d1 - d0;
    for (int r = r0; r < r1; ++r) std::memcpy(pre + static_cast<std::size_t>(r) * Di + d0, bias + d0, sizeof(float) * nd);
    alignas(32) float wj[kChunk];
    for (int j = 0; j < K; ++j) {
      tap_weights(wj, weight, K, j, d0, d1);
      for (int r = r0; r < r1; ++r) {
        const int b = r / T, t = r % T, s = t - K + 1 + j;  // source position
        const int first = doc_start ? doc_start[r] : 0;     // the document's first position
        const float* src;
        if (s >= first) {
          src = x + static_cast<std::size_t>(b * T + s) * ldx + d0;
        } else if (history != nullptr && first == 0 && s < 0) {
          src = history + (static_cast<std::size_t>(b) * (K - 1) + (K - 1 + s)) * Di + d0;
        } else {
          continue;
        }
        float* p = pre + static_cast<std::size_t>(r) * Di + d0;
#pragma omp simd
        for (int c = 0; c < nd; ++c) p[c] += wj[c] * src[c];
      }
    }
    for (int r = r0; r < r1; ++r) {
      const float* p = pre + static_cast<std::size_t>(r) * Di + d0;
      float* a = act + static_cast<std::size_t>(r) * Di + d0;
#pragma omp simd
      for (int c = 0; c < nd; ++c) a[c] = fast_siluf(p[c]);
    }
  }
}

void ssm_conv_backward(float* dx, int lddx, float* dweight, float* dbias, float* dact,
                       const float* pre, const float* x, int ldx, const float* weight, int B, int T,
                       int Di, int K, const int32_t* doc_start) {
  const int rows = B * T, tiles = (rows + kRows - 1) / kRows, chunks = chunks_of(Di);
#pragma omp parallel
  {
    // d(pre) = d(act) · silu'(pre), in place.
#pragma omp for schedule(static)
    for (int r = 0; r < rows; ++r) {
      float* g = dact + static_cast<std::size_t>(r) * Di;
      const float* p = pre + static_cast<std::size_t>(r) * Di;
#pragma omp simd
      for (int d = 0; d < Di; ++d) g[d] *= fast_silu_gradf(p[d]);
    }
    // dx[b,s,d] += Σ_j w[d,j] · dpre[b, s+K-1-j, d]   (rows are independent).
#pragma omp for schedule(static)
    for (int task = 0; task < tiles * chunks; ++task) {
      const int r0 = (task / chunks) * kRows, r1 = std::min(rows, r0 + kRows);
      const int d0 = (task % chunks) * kChunk, d1 = std::min(Di, d0 + kChunk), nd = d1 - d0;
      alignas(32) float wj[kChunk];
      for (int j = 0; j < K; ++j) {
        tap_weights(wj, weight, K, j, d0, d1);
        for (int r = r0; r < r1; ++r) {
          const int b = r / T, s = r % T, t = s + K - 1 - j;
          if (t >= T || (doc_start && s < doc_start[b * T + t])) continue;  // t does not read s
          const float* g = dact + static_cast<std::size_t>(b * T + t) * Di + d0;
          float* out = dx + static_cast<std::size_t>(r) * lddx + d0;
#pragma omp simd
          for (int c = 0; c < nd; ++c) out[c] += wj[c] * g[c];
        }
      }
    }
    // dweight, dbias: reductions over (b, t), one channel chunk per task so nothing races; one
    // pass over the rows per tap, accumulating a contiguous vector. Null pointers (frozen
    // weights) skip their part.
    const int tasks = (dweight || dbias) ? chunks : 0;
#pragma omp for schedule(static)
    for (int c0 = 0; c0 < tasks; ++c0) {
      const int d0 = c0 * kChunk, d1 = std::min(Di, d0 + kChunk), nd = d1 - d0;
      if (dbias) {
        alignas(32) float db[kChunk] = {};
        for (int r = 0; r < rows; ++r) {
          const float* g = dact + static_cast<std::size_t>(r) * Di + d0;
#pragma omp simd
          for (int c = 0; c < nd; ++c) db[c] += g[c];
        }
        for (int c = 0; c < nd; ++c) dbias[d0 + c] += db[c];
      }
      for (int j = 0; j < K && dweight; ++j) {
        alignas(32) float dw[kChunk] = {};
        for (int b = 0; b < B; ++b) {
          for (int t = std::max(0, K - 1 - j); t < T; ++t) {  // source s = t-K+1+j >= 0
            if (doc_start && t - K + 1 + j < doc_start[b * T + t]) continue;  // before t's document
            const float* g = dact + static_cast<std::size_t>(b * T + t) * Di + d0;
            const float* src = x + static_cast<std::size_t>(b * T + t - K + 1 + j) * ldx + d0;
#pragma omp simd
            for (int c = 0; c < nd; ++c) dw[c] += g[c] * src[c];
          }
        }
        for (int c = 0; c < nd; ++c) dweight[(d0 + c) * K + j] += dw[c];
      }
    }
  }
}

void ssm_conv_update_history(float* history, const float* x, int ldx, int B, int T, int Di, int K) {
  const int H = K - 1;
  for (int b = 0; b < B; ++b) {
    float* h = history + static_cast<std::size_t>(b) * H * Di;
    // Row i of the new history is position T-H+i: from x when >= 0, else an older history row
    // (i+T < H, read before it is overwritten since i ascends).
    for (int i = 0; i < H; ++i) {
      const int s = T - H + i;
      const float* src = s >= 0 ? x + static_cast<std::size_t>(b * T + s) * ldx : h + (i + T) * Di;
      std::memmove(h + static_cast<std::size_t>(i) * Di, src, sizeof(float) * Di);
    }
  }
}

}  // namespace trainer
