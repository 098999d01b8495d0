// The MoE sub-layer (see moe_block.h). Routing and the pointwise parts are OpenMP loops over
// tokens or assignment rows; every matrix product is one sgemm per expert (per projection) over
// that expert's contiguous group of rows, so OpenBLAS sees a few medium products, not M·k tiny ones.
#pragma GCC optimize("no-trapping-math")  // lets fast_exp vectorize (see ssm_kernels.cpp)

#include "trainer/moe_block.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/model_config.h"
#include "trainer/ssm_math.h"

namespace trainer {
namespace {

// Row-major products. nt: C = A·Bᵀ + beta·C, A (M,K), B (N,K). nn: C = A·B + beta·C, B (K,N).
// tn: C = Aᵀ·B + beta·C, A (K,M), B (K,N).
void gemm_nt(int M, int N, int K, const float* A, const float* Bw, float* C, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, Bw, K, beta, C, N);
}
void gemm_nn(int M, int N, int K, const float* A, const float* Bw, float* C, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, Bw, N, beta, C, N);
}
void gemm_tn(int M, int N, int K, const float* A, const float* Bw, float* C, float beta) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, M, Bw, N, beta, C, N);
}

// h = silu(g) ⊙ u over n elements.
void swiglu_act(float* h, const float* g, const float* u, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) h[i] = fast_silu(g[i]) * u[i];
}

// dg = dh ⊙ u ⊙ silu'(g), du = dh ⊙ silu(g) (overwrite).
void swiglu_act_backward(float* dg, float* du, const float* dh, const float* g, const float* u, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    dg[i] = dh[i] * u[i] * fast_silu_grad(g[i]);
    du[i] = dh[i] * fast_silu(g[i]);
  }
}

// One SwiGLU over `rows` contiguous rows: out (rows, D) = down(h) with beta, saving gate/up/h.
void swiglu_forward(float* out, float beta, float* hg, float* hu, float* h, const float* x,
                    const SwigluParams& w, int rows, int D, int F) {
  gemm_nt(rows, F, D, x, w.gate, hg, 0.0f);
  gemm_nt(rows, F, D, x, w.up, hu, 0.0f);
  swiglu_act(h, hg, hu, static_cast<std::size_t>(rows) * F);
  gemm_nt(rows, D, F, h, w.down, out, beta);
}

// Backward of swiglu_forward: dx (rows, D) = (beta_dx·dx) + d(x); weight gradients accumulate.
void swiglu_backward(float* dx, float beta_dx, const SwigluParams& grad, const float* dout,
                     const float* x, const float* hg, const float* hu, const float* h,
                     const SwigluParams& w, float* dh, float* dhg, float* dhu, int rows, int D, int F) {
  gemm_nn(rows, F, D, dout, w.down, dh, 0.0f);
  gemm_tn(D, F, rows, dout, h, grad.down, 1.0f);
  swiglu_act_backward(dhg, dhu, dh, hg, hu, static_cast<std::size_t>(rows) * F);
  gemm_tn(F, D, rows, dhg, x, grad.gate, 1.0f);
  gemm_tn(F, D, rows, dhu, x, grad.up, 1.0f);
  gemm_nn(rows, D, F, dhg, w.gate, dx, beta_dx);
  gemm_nn(rows, D, F, dhu, w.up, dx, 1.0f);
}

template <typename Spec>
std::size_t point_all(void** fields[], const std::vector<Spec>& specs, float* base) {
  std::size_t used = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    *fields[i] = base + used;
    used += specs[i].elems;
  }
  return used;
}

}  // namespace

MoeDims moe_dims(const ModelConfig& c, int tokens) {
  MoeDims d;
  d.M = tokens;
  d.D = c.d_model;
  d.X = c.moe.n_experts;
  d.k = c.moe.top_k;
  d.Fe = c.expert_dim();
  d.Fs = c.moe.shared_expert ? c.shared_dim() : 0;
  return d;
}

std::vector<MoeBufferSpec> moe_param_specs(const MoeDims& d) {
  std::vector<MoeBufferSpec> out;
  const std::size_t D = d.D, Fe = d.Fe, Fs = d.Fs;
  out.push_back({"router.weight", static_cast<std::size_t>(d.X) * D});
  // Names are built by the layer ("experts.{e}.gate.weight"); sizes here in the same order.
  for (int e = 0; e < d.X; ++e) {
    out.push_back({"experts.gate.weight", Fe * D});
    out.push_back({"experts.up.weight", Fe * D});
    out.push_back({"experts.down.weight", D * Fe});
  }
  if (Fs > 0) {
    out.push_back({"shared.gate.weight", Fs * D});
    out.push_back({"shared.up.weight", Fs * D});
    out.push_back({"shared.down.weight", D * Fs});
  }
  return out;
}

std::vector<MoeBufferSpec> moe_activation_specs(const MoeDims& d) {
  const std::size_t M = d.M, A = d.assignments(), D = d.D, Fe = d.Fe, Fs = d.Fs;
  return {{"probs", M * d.X},        {"topk", M * d.k, true},     {"gates", M * d.k},
          {"slot_row", A, true},     {"row_token", A, true},      {"offset", static_cast<std::size_t>(d.X) + 1, true},
          {"xg", A * D},             {"h_gate", A * Fe},          {"h_up", A * Fe},
          {"h", A * Fe},             {"y", A * D},                {"s_gate", M * Fs},
          {"s_up", M * Fs},          {"s_h", M * Fs}};
}

std::vector<MoeBufferSpec> moe_scratch_specs(const MoeDims& d) {
  const std::size_t M = d.M, A = d.assignments(), D = d.D, Fe = d.Fe, Fs = d.Fs;
  return {{"dy", A * D},       {"dh", A * Fe},      {"dh_gate", A * Fe}, {"dh_up", A * Fe},
          {"dxg", A * D},      {"dprobs", M * d.X}, {"dgates", M * d.k}, {"ds_h", M * Fs},
          {"ds_gate", M * Fs}, {"ds_up", M * Fs}};
}

std::size_t moe_point_params(MoeParams* p, float* base, const MoeDims& d) {
  std::size_t used = 0;
  auto take = [&](std::size_t n) {
    float* q = base + used;
    used += n;
    return q;
  };
  const std::size_t D = d.D, Fe = d.Fe, Fs = d.Fs;
  p->router = take(static_cast<std::size_t>(d.X) * D);
  p->experts.assign(d.X, SwigluParams{});
  for (SwigluParams& e : p->experts) {
    e.gate = take(Fe * D);
    e.up = take(Fe * D);
    e.down = take(D * Fe);
  }
  p->shared = SwigluParams{};
  if (Fs > 0) {
    p->shared.gate = take(Fs * D);
    p->shared.up = take(Fs * D);
    p->shared.down = take(D * Fs);
  }
  return used;
}

std::size_t moe_point_activations(MoeActivations* a, float* base, const MoeDims& d) {
  void** fields[] = {(void**)&a->probs,  (void**)&a->topk,      (void**)&a->gates,
                     (void**)&a->slot_row, (void**)&a->row_token, (void**)&a->offset,
                     (void**)&a->xg,     (void**)&a->h_gate,    (void**)&a->h_up,
                     (void**)&a->h,      (void**)&a->y,         (void**)&a->s_gate,
                     (void**)&a->s_up,   (void**)&a->s_h};
  return point_all(fields, moe_activation_specs(d), base);
}

std::size_t moe_point_scratch(MoeScratch* s, float* base, const MoeDims& d) {
  void** fields[] = {(void**)&s->dy,     (void**)&s->dh,     (void**)&s->dh_gate, (void**)&s->dh_up,
                     (void**)&s->dxg,    (void**)&s->dprobs, (void**)&s->dgates,  (void**)&s->ds_h,
                     (void**)&s->ds_gate, (void**)&s->ds_up};
  return point_all(fields, moe_scratch_specs(d), base);
}

float moe_block_forward(float* out, const MoeActivations& a, const float* x, const MoeParams& w,
                        const MoeDims& d) {
  const int M = d.M, D = d.D, X = d.X, k = d.k;
  // Router: probs = softmax(x·routerᵀ); top-k by probability, ties to the lower index.
  gemm_nt(M, X, D, x, w.router, a.probs, 0.0f);
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
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M * k; ++r)
    std::memcpy(a.xg + static_cast<std::size_t>(r) * D, x + static_cast<std::size_t>(a.row_token[r]) * D,
                sizeof(float) * D);
  // Experts: one product per projection over each expert's rows.
  for (int e = 0; e < X; ++e) {
    const int r0 = off[e], rows = off[e + 1] - off[e];
    if (rows == 0) continue;
    const std::size_t hf = static_cast<std::size_t>(r0) * d.Fe, hd = static_cast<std::size_t>(r0) * D;
    swiglu_forward(a.y + hd, 0.0f, a.h_gate + hf, a.h_up + hf, a.h + hf, a.xg + hd, w.experts[e], rows, D, d.Fe);
  }
  // Combine: out[m] += Σ_j gate_j · y[row_j].
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* o = out + static_cast<std::size_t>(m) * D;
    for (int j = 0; j < k; ++j) {
      const float g = a.gates[m * k + j];
      const float* y = a.y + static_cast<std::size_t>(a.slot_row[m * k + j]) * D;
      for (int i = 0; i < D; ++i) o[i] += g * y[i];
    }
  }
  if (d.Fs > 0) swiglu_forward(out, 1.0f, a.s_gate, a.s_up, a.s_h, x, w.shared, M, D, d.Fs);
  // aux = X · Σ_e f_e · P_e.
  double aux = 0.0;
  for (int e = 0; e < X; ++e) {
    double P = 0.0;
    for (int m = 0; m < M; ++m) P += a.probs[static_cast<std::size_t>(m) * X + e];
    const double f = static_cast<double>(off[e + 1] - off[e]) / (static_cast<double>(M) * k);
    aux += f * (P / M);
  }
  return static_cast<float>(X * aux);
}

void moe_block_backward(float* dx, const MoeParams& grad, const float* dout, const float* x,
                        float aux_grad, const MoeActivations& a, const MoeParams& w,
                        const MoeScratch& s, const MoeDims& d) {
  const int M = d.M, D = d.D, X = d.X, k = d.k;
  if (d.Fs > 0) {
    // The shared expert's dx goes to dxg's first M rows, added to dx below with the rest.
    swiglu_backward(s.dxg, 0.0f, grad.shared, dout, x, a.s_gate, a.s_up, a.s_h, w.shared, s.ds_h,
                    s.ds_gate, s.ds_up, M, D, d.Fs);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < static_cast<std::size_t>(M) * D; ++i) dx[i] += s.dxg[i];
  }
  // Through the combine: dgate = dout·y; dy[row] = gate·dout.
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
  // Experts.
  for (int e = 0; e < X; ++e) {
    const int r0 = a.offset[e], rows = a.offset[e + 1] - a.offset[e];
    if (rows == 0) continue;
    const std::size_t hf = static_cast<std::size_t>(r0) * d.Fe, hd = static_cast<std::size_t>(r0) * D;
    swiglu_backward(s.dxg + hd, 0.0f, grad.experts[e], s.dy + hd, a.xg + hd, a.h_gate + hf, a.h_up + hf,
                    a.h + hf, w.experts[e], s.dh + hf, s.dh_gate + hf, s.dh_up + hf, rows, D, d.Fe);
  }
  // Gates g_j = p_j / S over the chosen experts: dp_j = (dg_j − Σ_i dg_i·g_i) / S. The aux loss
  // adds X·f_e/M to every dp[m, e] (f_e held constant). Then the softmax backward, in place.
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
    for (int j = 0; j < k; ++j) dp[top[j]] += (s.dgates[m * k + j] - dot) / S;
    for (int e = 0; e < X; ++e) {
      const float f = static_cast<float>(a.offset[e + 1] - a.offset[e]) / (static_cast<float>(M) * k);
      dp[e] += aux_grad * X * f / M;
    }
    float pd = 0.0f;
    for (int e = 0; e < X; ++e) pd += p[e] * dp[e];
    for (int e = 0; e < X; ++e) dp[e] = p[e] * (dp[e] - pd);
  }
  // Gather the experts' dx back to tokens (no races: one writer per token).
#pragma omp parallel for schedule(static)
  for (int m = 0; m < M; ++m) {
    float* o = dx + static_cast<std::size_t>(m) * D;
    for (int j = 0; j < k; ++j) {
      const float* g = s.dxg + static_cast<std::size_t>(a.slot_row[m * k + j]) * D;
      for (int i = 0; i < D; ++i) o[i] += g[i];
    }
  }
  // Router.
  gemm_tn(X, D, M, s.dprobs, x, grad.router, 1.0f);
  gemm_nn(M, D, X, s.dprobs, w.router, dx, 1.0f);
}

void moe_expert_counts(const MoeActivations& act, const MoeDims& d, std::int64_t* counts) {
  for (int e = 0; e < d.X; ++e) counts[e] = act.offset[e + 1] - act.offset[e];
}

}  // namespace trainer
