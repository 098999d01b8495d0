// The `conv` sub-layer's math (conv_block.h): the gated short convolution of LFM2, forward and
// backward, with its causal depthwise convolution. Rows (positions) are independent in the forward
// and in the input gradient; the kernel's gradient is a reduction over rows, split by channel
// chunks so no two threads write the same entry.
#include "trainer/layers/conv_block.h"

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "trainer/kernels/kernels.h"
#include "trainer/kernels/ssm.h"

namespace trainer {

namespace {

constexpr int kChunk = 64;  // channels per task of the kernel-gradient reduction

}  // namespace

void short_conv_forward(float* out, const float* x, const float* history, const float* w, int B, int T, int D, int L,
                        const int32_t* doc_start) {
  const int rows = B * T;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r) {
    const int b = r / T, t = r % T;
    const int first = doc_start ? doc_start[r] : 0;
    float* o = out + static_cast<std::size_t>(r) * D;
    std::fill(o, o + D, 0.0f);
    for (int j = 0; j < L; ++j) {
      const int s = t - L + 1 + j;
      const float* src;
      if (s >= first) {
        src = x + static_cast<std::size_t>(b * T + s) * D;
      } else if (history != nullptr && first == 0 && s < 0) {
        src = history + (static_cast<std::size_t>(b) * (L - 1) + (L - 1 + s)) * D;
      } else {
        continue;
      }
      for (int c = 0; c < D; ++c) o[c] += w[static_cast<std::size_t>(c) * L + j] * src[c];
    }
  }
}

void short_conv_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, int B, int T, int D,
                         int L, const int32_t* doc_start) {
  const int rows = B * T, chunks = (D + kChunk - 1) / kChunk;
#pragma omp parallel
  {
    // dx[b,s,d] += Σ_j w[d,j] · dout[b, s+L-1-j, d] for the t that read s.
#pragma omp for schedule(static)
    for (int r = 0; r < rows; ++r) {
      const int b = r / T, s = r % T;
      float* g = dx + static_cast<std::size_t>(r) * D;
      for (int j = 0; j < L; ++j) {
        const int t = s + L - 1 - j;
        if (t >= T || (doc_start && s < doc_start[b * T + t])) continue;
        const float* src = dout + static_cast<std::size_t>(b * T + t) * D;
        for (int c = 0; c < D; ++c) g[c] += w[static_cast<std::size_t>(c) * L + j] * src[c];
      }
    }
    const int tasks = dw ? chunks : 0;
#pragma omp for schedule(static)
    for (int k = 0; k < tasks; ++k) {
      const int d0 = k * kChunk, d1 = std::min(D, d0 + kChunk), nd = d1 - d0;
      for (int j = 0; j < L; ++j) {
        float acc[kChunk] = {};
        for (int b = 0; b < B; ++b) {
          for (int t = std::max(0, L - 1 - j); t < T; ++t) {
            const int s = t - L + 1 + j;
            if (doc_start && s < doc_start[b * T + t]) continue;
            const float* g = dout + static_cast<std::size_t>(b * T + t) * D + d0;
            const float* src = x + static_cast<std::size_t>(b * T + s) * D + d0;
            for (int c = 0; c < nd; ++c) acc[c] += g[c] * src[c];
          }
        }
        for (int c = 0; c < nd; ++c) dw[static_cast<std::size_t>(d0 + c) * L + j] += acc[c];
      }
    }
  }
}

void conv_block_forward(float* out, const ConvActivations& a, const float* x, const ConvWeights& w, float* history,
                        const ConvDims& d, const int32_t* doc_start) {
  const int N = d.rows(), D = d.D;
  w.in_proj.forward(a.bcx, x, N, false);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N; ++r) {
    const float* row = a.bcx + static_cast<std::size_t>(r) * 3 * D;
    float* bx = a.bx + static_cast<std::size_t>(r) * D;
    for (int c = 0; c < D; ++c) bx[c] = row[c] * row[2 * D + c];
  }
  short_conv_forward(a.conv, a.bx, history, w.conv_w, d.B, d.T, D, d.L, doc_start);
  if (history != nullptr) ssm_conv_update_history(history, a.bx, D, d.B, d.T, D, d.L);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N; ++r) {
    const float* cgate = a.bcx + static_cast<std::size_t>(r) * 3 * D + D;
    const float* cv = a.conv + static_cast<std::size_t>(r) * D;
    float* y = a.y + static_cast<std::size_t>(r) * D;
    for (int c = 0; c < D; ++c) y[c] = cgate[c] * cv[c];
  }
  w.out_proj.forward(out, a.y, N, true);
}

void conv_block_backward(float* dx, const float* dout, const float* x, const ConvActivations& a, const ConvWeights& w,
                         const ConvScratch& s, const ConvDims& d, const int32_t* doc_start) {
  const int N = d.rows(), D = d.D;
  const int64_t n = int64_t{N} * D;
  zero_floats(s.dy, n);
  w.out_proj.backward(s.dy, dout, a.y, N);
  // y = C ⊙ conv: dC = dy ⊙ conv; d(conv) = dy ⊙ C (in place).
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N; ++r) {
    const float* cgate = a.bcx + static_cast<std::size_t>(r) * 3 * D + D;
    const float* cv = a.conv + static_cast<std::size_t>(r) * D;
    float* dy = s.dy + static_cast<std::size_t>(r) * D;
    float* dc = s.dbcx + static_cast<std::size_t>(r) * 3 * D + D;
    for (int c = 0; c < D; ++c) {
      dc[c] = dy[c] * cv[c];
      dy[c] *= cgate[c];
    }
  }
  zero_floats(s.dbx, n);
  short_conv_backward(s.dbx, w.dconv_w, s.dy, a.bx, w.conv_w, d.B, d.T, D, d.L, doc_start);
  // bx = B ⊙ x: dB = dbx ⊙ x, dx_part = dbx ⊙ B.
#pragma omp parallel for schedule(static)
  for (int r = 0; r < N; ++r) {
    const float* row = a.bcx + static_cast<std::size_t>(r) * 3 * D;
    const float* g = s.dbx + static_cast<std::size_t>(r) * D;
    float* drow = s.dbcx + static_cast<std::size_t>(r) * 3 * D;
    for (int c = 0; c < D; ++c) {
      drow[c] = g[c] * row[2 * D + c];
      drow[2 * D + c] = g[c] * row[c];
    }
  }
  w.in_proj.backward(dx, s.dbcx, x, N);
}

}  // namespace trainer
