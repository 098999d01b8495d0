// Causal depthwise conv1d of the SSM block (see ssm_kernels.h), forward and backward: rows of
// (B, T) are independent in the forward and in the input gradient; the weight and bias gradients
// are reductions over rows, split by channel chunks so no two threads write the same gradient.
// Float compares may not trap here, so GCC can if-convert the SiLU's exp clamps and vectorize it.
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cstring>

#include "trainer/simd_math.h"
#include "trainer/ssm_kernels.h"

namespace trainer {

void ssm_conv_forward(float* pre, float* act, const float* x, int ldx, const float* history,
                      const float* weight, const float* bias, int B, int T, int Di, int K) {
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; ++bt) {
    const int b = bt / T, t = bt % T;
    float* p = pre + static_cast<std::size_t>(bt) * Di;
    for (int d = 0; d < Di; ++d) p[d] = bias[d];
    for (int j = 0; j < K; ++j) {
      const int s = t - K + 1 + j;  // source position
      const float* src;
      if (s >= 0) {
        src = x + static_cast<std::size_t>(b * T + s) * ldx;
      } else if (history != nullptr) {
        src = history + (static_cast<std::size_t>(b) * (K - 1) + (K - 1 + s)) * Di;
      } else {
        continue;
      }
      for (int d = 0; d < Di; ++d) p[d] += weight[d * K + j] * src[d];
    }
    float* a = act + static_cast<std::size_t>(bt) * Di;
    for (int d = 0; d < Di; ++d) a[d] = fast_siluf(p[d]);
  }
}

void ssm_conv_backward(float* dx, int lddx, float* dweight, float* dbias, float* dact,
                       const float* pre, const float* x, int ldx, const float* weight, int B, int T,
                       int Di, int K) {
  const std::size_t rows = static_cast<std::size_t>(B) * T;
#pragma omp parallel
  {
    // d(pre) = d(act) · silu'(pre), in place.
#pragma omp for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      float* g = dact + r * Di;
      const float* p = pre + r * Di;
      for (int d = 0; d < Di; ++d) g[d] *= fast_silu_gradf(p[d]);
    }
    // dx[b,s,d] += Σ_j w[d,j] · dpre[b, s+K-1-j, d]   (rows are independent).
#pragma omp for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      const int b = static_cast<int>(r / T), s = static_cast<int>(r % T);
      float* out = dx + r * lddx;
      for (int j = 0; j < K; ++j) {
        const int t = s + K - 1 - j;
        if (t >= T) continue;
        const float* g = dact + static_cast<std::size_t>(b * T + t) * Di;
        for (int d = 0; d < Di; ++d) out[d] += weight[d * K + j] * g[d];
      }
    }
    // dweight, dbias: reductions over (b, t), split by channel chunks so nothing races. Null
    // pointers (frozen weights) skip their part.
    constexpr int kChunk = 16;
    const int chunks = (dweight || dbias) ? (Di + kChunk - 1) / kChunk : 0;
#pragma omp for schedule(static)
    for (int c = 0; c < chunks; ++c) {
      const int d0 = c * kChunk, d1 = std::min(Di, d0 + kChunk);
      float dw[kChunk * 16];  // (kChunk, K) for K <= 16, else accumulate directly
      float db[kChunk] = {};
      const bool local = K <= 16;
      if (local) std::fill(dw, dw + kChunk * K, 0.0f);
      for (int b = 0; b < B; ++b) {
        for (int t = 0; t < T; ++t) {
          const float* g = dact + static_cast<std::size_t>(b * T + t) * Di;
          for (int d = d0; d < d1; ++d) db[d - d0] += g[d];
          for (int j = 0; j < K && dweight; ++j) {
            const int s = t - K + 1 + j;
            if (s < 0) continue;
            const float* src = x + static_cast<std::size_t>(b * T + s) * ldx;
            if (local) {
              for (int d = d0; d < d1; ++d) dw[(d - d0) * K + j] += g[d] * src[d];
            } else {
              for (int d = d0; d < d1; ++d) dweight[d * K + j] += g[d] * src[d];
            }
          }
        }
      }
      for (int d = d0; d < d1; ++d) {
        if (dbias) dbias[d] += db[d - d0];
        if (local && dweight)
          for (int j = 0; j < K; ++j) dweight[d * K + j] += dw[(d - d0) * K + j];
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
