// MoE routing, dispatch, combine and their backwards (see moe_routing.h): loops over tokens or
// assignment rows, parallel over tokens where each token (or row) has a single writer; the
// grouping and the aux loss are serial. Loop orders are fixed, so results do not depend on the
// thread count.
#pragma GCC optimize("no-trapping-math")  // same code generation as the rest of the MoE block

#include "trainer/layers/moe_routing.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"

namespace trainer {

void moe_route(const MoeActivations& a, const MoeDims& d) {
  const int M = d.M, X = d.X, k = d.k;
  CHECK(k >= 1 && k <= X);
  // probs = softmax(logits) in place; top-k by probability, ties to the lower index.
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* p = a.probs + static_cast<std::size_t>(m) * X;
    float mx = p[0];
    for (int e = 1; e < X; ++e) mx = std::max(mx, p[e]);
    float sum = 0.0f;
    for (int e = 0; e < X; ++e) {
      p[e] = std::exp(p[e] - mx);
      sum += p[e];
    }
    for (int e = 0; e < X; ++e) p[e] /= sum;
    std::int32_t* top = a.topk + static_cast<std::size_t>(m) * k;
    float* g = a.gates + static_cast<std::size_t>(m) * k;
    float gsum = 0.0f;
    for (int j = 0; j < k; ++j) {
      int best = -1;
      for (int e = 0; e < X; ++e) {
        bool taken = false;
        for (int i = 0; i < j; ++i) taken |= top[i] == e;
        if (!taken && (best < 0 || p[e] > p[best])) best = e;
      }
      top[j] = best;
      g[j] = p[best];
      gsum += p[best];
    }
    if (d.renormalize)
      for (int j = 0; j < k; ++j) g[j] /= gsum;
  }
  // Group assignments by expert (counting sort, stable in token order).
  std::int32_t* off = a.offset;
  std::fill(off, off + X + 1, 0);
  for (int i = 0; i < M * k; ++i) ++off[a.topk[i] + 1];
  for (int e = 0; e < X; ++e) off[e + 1] += off[e];
  for (int m = 0; m < M; ++m) {
    for (int j = 0; j < k; ++j) {
      const int row = off[a.topk[m * k + j]]++;  // off[e] is e's cursor during the fill
      a.slot_row[m * k + j] = row;
      a.row_token[row] = m;
    }
  }
  for (int e = X; e > 0; --e) off[e] = off[e - 1];  // cursors ended at the next expert's start
  off[0] = 0;
  CHECK(off[X] == M * k);
}

void moe_dispatch(const MoeActivations& a, const float* x, const MoeDims& d) {
  const int D = d.D, rows = d.assignments();
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; ++r)
    std::memcpy(a.xg + static_cast<std::size_t>(r) * D, x + static_cast<std::size_t>(a.row_token[r]) * D,
                sizeof(float) * D);
}

void moe_combine(float* out, const MoeActivations& a, const MoeDims& d) {
  const int M = d.M, D = d.D, k = d.k;
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* o = out + static_cast<std::size_t>(m) * D;
    for (int j = 0; j < k; ++j) {
      const float g = a.gates[m * k + j];
      const float* y = a.y + static_cast<std::size_t>(a.slot_row[m * k + j]) * D;
      for (int i = 0; i < D; ++i) o[i] += g * y[i];
    }
  }
}

float moe_aux_loss(const MoeActivations& a, const MoeDims& d) {
  const int M = d.M, X = d.X, k = d.k;
  double aux = 0.0;
  for (int e = 0; e < X; ++e) {
    double P = 0.0;
    for (int m = 0; m < M; ++m) P += a.probs[static_cast<std::size_t>(m) * X + e];
    const double f = static_cast<double>(a.offset[e + 1] - a.offset[e]) / (static_cast<double>(M) * k);
    aux += f * (P / M);
  }
  return static_cast<float>(X * aux);
}

void moe_combine_backward(const float* dout, const MoeActivations& a, const MoeScratch& s, const MoeDims& d) {
  const int M = d.M, D = d.D, k = d.k;
  // dgate = dout·y; dy[row] = gate·dout.
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    const float* go = dout + static_cast<std::size_t>(m) * D;
    for (int j = 0; j < k; ++j) {
      const int row = a.slot_row[m * k + j];
      const float* y = a.y + static_cast<std::size_t>(row) * D;
      float* dy = s.dy + static_cast<std::size_t>(row) * D;
      const float g = a.gates[m * k + j];
      float dot = 0.0f;
      for (int i = 0; i < D; ++i) {
        dot += go[i] * y[i];
        dy[i] = g * go[i];
      }
      s.dgates[m * k + j] = dot;
    }
  }
}

void moe_route_backward(float aux_grad, const MoeActivations& a, const MoeScratch& s, const MoeDims& d) {
  const int M = d.M, X = d.X, k = d.k;
  std::fill(s.dprobs, s.dprobs + static_cast<std::size_t>(M) * X, 0.0f);
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* dp = s.dprobs + static_cast<std::size_t>(m) * X;
    const float* p = a.probs + static_cast<std::size_t>(m) * X;
    const std::int32_t* top = a.topk + static_cast<std::size_t>(m) * k;
    float S = 0.0f, dot = 0.0f;
    for (int j = 0; j < k; ++j) {
      S += p[top[j]];
      dot += s.dgates[m * k + j] * a.gates[m * k + j];
    }
    if (d.renormalize) {
      for (int j = 0; j < k; ++j) dp[top[j]] += (s.dgates[m * k + j] - dot) / S;
    } else {  // gates are the probabilities themselves
      for (int j = 0; j < k; ++j) dp[top[j]] += s.dgates[m * k + j];
    }
    for (int e = 0; e < X; ++e) {
      const float f = static_cast<float>(a.offset[e + 1] - a.offset[e]) / (static_cast<float>(M) * k);
      dp[e] += aux_grad * X * f / M;
    }
    float pd = 0.0f;
    for (int e = 0; e < X; ++e) pd += p[e] * dp[e];
    for (int e = 0; e < X; ++e) dp[e] = p[e] * (dp[e] - pd);
  }
}

void moe_dispatch_backward(float* dx, const MoeActivations& a, const MoeScratch& s, const MoeDims& d) {
  const int M = d.M, D = d.D, k = d.k;
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* o = dx + static_cast<std::size_t>(m) * D;
    for (int j = 0; j < k; ++j) {
      const float* g = s.dxg + static_cast<std::size_t>(a.slot_row[m * k + j]) * D;
      for (int i = 0; i < D; ++i) o[i] += g[i];
    }
  }
}

}  // namespace trainer
