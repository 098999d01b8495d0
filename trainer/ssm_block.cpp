// The SSM sub-layer (see ssm_block.h): sgemm for the four projections, ssm_kernels for the conv
// and the scan, small OpenMP loops for the pointwise parts (softplus, the SiLU(z) gate).
#pragma GCC optimize("no-trapping-math")  // lets fast_exp vectorize (see ssm_kernels.cpp)

#include "trainer/ssm_block.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "common/check.h"
#include "trainer/model_config.h"
#include "trainer/ssm_kernels.h"
#include "trainer/ssm_math.h"

namespace trainer {
namespace {

// Row-major products. nt: C = A·Bᵀ + beta·C, A (M,K), B (N,K). nn: C = A·B + beta·C, B (K,N).
// tn: C = Aᵀ·B + beta·C, A (K,M), B (K,N).
void gemm_nt(int M, int N, int K, const float* A, int lda, const float* Bw, int ldb, float* C, int ldc, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, lda, Bw, ldb, beta, C, ldc);
}
void gemm_nn(int M, int N, int K, const float* A, int lda, const float* Bw, int ldb, float* C, int ldc, float beta) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, Bw, ldb, beta, C, ldc);
}
void gemm_tn(int M, int N, int K, const float* A, int lda, const float* Bw, int ldb, float* C, int ldc, float beta) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, lda, Bw, ldb, beta, C, ldc);
}

std::size_t point_all(float** fields[], const SsmBufferSpec* specs, int n, float* base) {
  std::size_t used = 0;
  for (int i = 0; i < n; ++i) {
    *fields[i] = base + used;
    used += specs[i].floats;
  }
  return used;
}

}  // namespace

SsmDims ssm_dims(const ModelConfig& c, int B, int T) {
  SsmDims d;
  d.B = B;
  d.T = T;
  d.D = c.d_model;
  d.Di = c.inner_dim();
  d.N = c.ssm.d_state;
  d.R = c.dt_rank();
  d.K = c.ssm.d_conv;
  return d;
}

void ssm_param_specs(const SsmDims& d, SsmBufferSpec out[kSsmParamCount]) {
  const std::size_t Di = d.Di, D = d.D;
  out[0] = {"in_proj.weight", 2 * Di * D};
  out[1] = {"conv.weight", Di * d.K};
  out[2] = {"conv.bias", Di};
  out[3] = {"x_proj.weight", static_cast<std::size_t>(d.dbc_width()) * Di};
  out[4] = {"dt_proj.weight", Di * d.R};
  out[5] = {"dt_proj.bias", Di};
  out[6] = {"A_log", Di * d.N};
  out[7] = {"D", Di};
  out[8] = {"out_proj.weight", D * Di};
}

void ssm_activation_specs(const SsmDims& d, SsmBufferSpec out[kSsmActivationCount]) {
  const std::size_t M = d.rows(), Di = d.Di;
  out[0] = {"xz", M * 2 * Di};
  out[1] = {"conv_pre", M * Di};
  out[2] = {"xc", M * Di};
  out[3] = {"dbc", M * d.dbc_width()};
  out[4] = {"dt", M * Di};
  out[5] = {"y", M * Di};
  out[6] = {"gated", M * Di};
}

void ssm_scratch_specs(const SsmDims& d, SsmBufferSpec out[kSsmScratchCount]) {
  const std::size_t M = d.rows(), Di = d.Di;
  out[0] = {"dgated", M * Di};
  out[1] = {"dxz", M * 2 * Di};
  out[2] = {"dxc", M * Di};
  out[3] = {"ddt", M * Di};
  out[4] = {"ddbc", M * d.dbc_width()};
  out[5] = {"scan", ssm_scan_backward_scratch_floats(d.B, d.T, d.Di, d.N)};
}

void ssm_state_specs(const SsmDims& d, SsmBufferSpec out[kSsmStateCount]) {
  out[0] = {"conv_state", static_cast<std::size_t>(d.B) * (d.K - 1) * d.Di};
  out[1] = {"ssm_state", static_cast<std::size_t>(d.B) * d.Di * d.N};
}

std::size_t ssm_point_params(SsmParams* p, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmParamCount];
  ssm_param_specs(d, specs);
  float** fields[] = {&p->in_proj, &p->conv_w, &p->conv_b, &p->x_proj, &p->dt_proj,
                      &p->dt_bias, &p->A_log,  &p->D,      &p->out_proj};
  return point_all(fields, specs, kSsmParamCount, base);
}

std::size_t ssm_point_activations(SsmActivations* a, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmActivationCount];
  ssm_activation_specs(d, specs);
  float** fields[] = {&a->xz, &a->conv_pre, &a->xc, &a->dbc, &a->dt, &a->y, &a->gated};
  return point_all(fields, specs, kSsmActivationCount, base);
}

std::size_t ssm_point_scratch(SsmScratch* s, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmScratchCount];
  ssm_scratch_specs(d, specs);
  float** fields[] = {&s->dgated, &s->dxz, &s->dxc, &s->ddt, &s->ddbc, &s->scan};
  return point_all(fields, specs, kSsmScratchCount, base);
}

std::size_t ssm_point_state(SsmState* s, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmStateCount];
  ssm_state_specs(d, specs);
  float** fields[] = {&s->conv, &s->ssm};
  return point_all(fields, specs, kSsmStateCount, base);
}

void ssm_block_forward(float* out, const SsmActivations& act, const float* x, const SsmParams& w,
                       SsmState* state, const SsmDims& d) {
  const int M = d.rows(), Di = d.Di, W = d.dbc_width();
  // xz = x·in_projᵀ
  gemm_nt(M, 2 * Di, d.D, x, d.D, w.in_proj, d.D, act.xz, 2 * Di, 0.0f);
  // xc = silu(conv(x_in) + bias)
  ssm_conv_forward(act.conv_pre, act.xc, act.xz, 2 * Di, state ? state->conv : nullptr, w.conv_w,
                   w.conv_b, d.B, d.T, Di, d.K);
  if (state) ssm_conv_update_history(state->conv, act.xz, 2 * Di, d.B, d.T, Di, d.K);
  // dbc = xc·x_projᵀ; dt = softplus(dt_low·dt_projᵀ + dt_bias)
  gemm_nt(M, W, Di, act.xc, Di, w.x_proj, Di, act.dbc, W, 0.0f);
  gemm_nt(M, Di, d.R, act.dbc, W, w.dt_proj, d.R, act.dt, Di, 0.0f);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* dt = act.dt + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) dt[i] = softplus(dt[i] + w.dt_bias[i]);
  }
  // y = scan; gated = y ⊙ silu(z)
  float* ssm_state = state ? state->ssm : nullptr;
  ssm_scan_forward(act.y, ssm_state, act.xc, act.dt, w.A_log, act.dbc + d.R, act.dbc + d.R + d.N, W,
                   w.D, ssm_state, d.B, d.T, Di, d.N);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.xz + static_cast<std::size_t>(r) * 2 * Di + Di;
    float* g = act.gated + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) g[i] = y[i] * fast_silu(z[i]);
  }
  // out += gated·out_projᵀ
  gemm_nt(M, d.D, Di, act.gated, Di, w.out_proj, Di, out, d.D, 1.0f);
}

void ssm_block_backward(float* dx, const SsmParams& grad, const float* dout, const float* x,
                        const SsmActivations& act, const SsmParams& w, const SsmScratch& s,
                        const SsmDims& d) {
  const int M = d.rows(), Di = d.Di, W = d.dbc_width();
  const std::size_t Mz = static_cast<std::size_t>(M);
  // out_proj
  gemm_nn(M, Di, d.D, dout, d.D, w.out_proj, Di, s.dgated, Di, 0.0f);
  gemm_tn(d.D, Di, M, dout, d.D, act.gated, Di, grad.out_proj, Di, 1.0f);
  // gate: dz = dgated·y·silu'(z) into dxz[:, Di:], dy = dgated·silu(z) in place; dxz[:, :Di] = 0
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* dg = s.dgated + static_cast<std::size_t>(r) * Di;
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.xz + static_cast<std::size_t>(r) * 2 * Di + Di;
    float* dxz = s.dxz + static_cast<std::size_t>(r) * 2 * Di;
    for (int i = 0; i < Di; ++i) {
      dxz[i] = 0.0f;
      dxz[Di + i] = dg[i] * y[i] * fast_silu_grad(z[i]);
      dg[i] *= fast_silu(z[i]);
    }
  }
  // scan
  std::memset(s.dxc, 0, sizeof(float) * Mz * Di);
  std::memset(s.ddt, 0, sizeof(float) * Mz * Di);
  std::memset(s.ddbc, 0, sizeof(float) * Mz * W);
  ssm_scan_backward(s.dxc, s.ddt, grad.A_log, s.ddbc + d.R, s.ddbc + d.R + d.N, grad.D, s.dgated,
                    act.xc, act.dt, w.A_log, act.dbc + d.R, act.dbc + d.R + d.N, W, w.D, s.scan, d.B,
                    d.T, Di, d.N);
  // dt = softplus(pre): d(pre) = ddt·σ(pre); dt_bias, dt_proj, and dt_low into ddbc[:, :R]
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* g = s.ddt + static_cast<std::size_t>(r) * Di;
    const float* dt = act.dt + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) g[i] *= softplus_grad_from_output(dt[i]);
  }
  for (int r = 0; r < M; ++r) {
    const float* g = s.ddt + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) grad.dt_bias[i] += g[i];
  }
  gemm_tn(Di, d.R, M, s.ddt, Di, act.dbc, W, grad.dt_proj, d.R, 1.0f);
  gemm_nn(M, d.R, Di, s.ddt, Di, w.dt_proj, d.R, s.ddbc, W, 0.0f);
  // x_proj
  gemm_tn(W, Di, M, s.ddbc, W, act.xc, Di, grad.x_proj, Di, 1.0f);
  gemm_nn(M, Di, W, s.ddbc, W, w.x_proj, Di, s.dxc, Di, 1.0f);
  // conv (dxc becomes d(conv_pre)); dx_in into dxz[:, :Di]
  ssm_conv_backward(s.dxz, 2 * Di, grad.conv_w, grad.conv_b, s.dxc, act.conv_pre, act.xz, 2 * Di,
                    w.conv_w, d.B, d.T, Di, d.K);
  // in_proj
  gemm_tn(2 * Di, d.D, M, s.dxz, 2 * Di, x, d.D, grad.in_proj, d.D, 1.0f);
  gemm_nn(M, d.D, 2 * Di, s.dxz, 2 * Di, w.in_proj, d.D, dx, d.D, 1.0f);
}

void ssm_init_special(const SsmParams& p, const SsmDims& d, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const double lo = std::log(0.001), hi = std::log(0.1);
  for (int i = 0; i < d.Di; ++i) {
    for (int n = 0; n < d.N; ++n) p.A_log[static_cast<std::size_t>(i) * d.N + n] = std::log(static_cast<float>(n + 1));
    p.D[i] = 1.0f;
    p.conv_b[i] = 0.0f;
    const double dt = std::exp(lo + (hi - lo) * u01(rng));
    p.dt_bias[i] = static_cast<float>(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt)
  }
}

}  // namespace trainer
