// The SSM sub-layer (see ssm_block.h): Linear maps (sgemm) for the four projections, ssm_kernels for the conv
// and the scan, small OpenMP loops for the pointwise parts (softplus, the SiLU(z) gate).
#pragma GCC optimize("no-trapping-math")  // lets fast_expf vectorize (see ssm_scan.cpp)

#include "trainer/layers/ssm_block.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/model_config.h"
#include "trainer/kernels/ssm.h"
#include "trainer/kernels/simd_math.h"

namespace trainer {
namespace {

std::size_t point_all(float** fields[], const SsmBufferSpec* specs, int n, float* base) {
  std::size_t used = 0;
  for (int i = 0; i < n; ++i) {
    *fields[i] = base + used;
    used += specs[i].floats;
  }
  return used;
}

// Jamba's norms of x_proj's output: each row's dt (R), B (N) and C (N) parts RMS-normalized with
// their own weights, raw -> out.
struct DbcNorm {
  const float* w[3];
  float* dw[3];
  int off[3], len[3];
};
DbcNorm dbc_norm_parts(const SsmWeights& w, const SsmDims& d) {
  return {{w.dt_norm, w.b_norm, w.c_norm}, {w.ddt_norm, w.db_norm, w.dc_norm}, {0, d.R, d.R + d.N}, {d.R, d.N, d.N}};
}

float rstd_of(const float* x, int n, float eps) {
  double ss = 0;
  for (int i = 0; i < n; ++i) ss += static_cast<double>(x[i]) * x[i];
  return static_cast<float>(1.0 / std::sqrt(ss / n + eps));
}

void dbc_norm_forward(float* out, const float* raw, const SsmWeights& w, const SsmDims& d) {
  const DbcNorm p = dbc_norm_parts(w, d);
  const int W = d.dbc_width();
#pragma omp parallel for schedule(static)
  for (int r = 0; r < d.rows(); ++r) {
    for (int k = 0; k < 3; ++k) {
      const float* x = raw + static_cast<std::size_t>(r) * W + p.off[k];
      float* y = out + static_cast<std::size_t>(r) * W + p.off[k];
      const float s = rstd_of(x, p.len[k], d.eps);
      for (int i = 0; i < p.len[k]; ++i) y[i] = x[i] * s * p.w[k][i];
    }
  }
}

// g (M, R+2N): the gradient of the normalized parts on entry, of the raw ones on return; the norm
// weights' gradients accumulate (serially: they are short).
void dbc_norm_backward(float* g, const float* raw, const SsmWeights& w, const SsmDims& d) {
  const DbcNorm p = dbc_norm_parts(w, d);
  const int W = d.dbc_width();
  for (int k = 0; k < 3; ++k) {
    if (p.dw[k] == nullptr) continue;
    for (int r = 0; r < d.rows(); ++r) {
      const float* x = raw + static_cast<std::size_t>(r) * W + p.off[k];
      const float* gy = g + static_cast<std::size_t>(r) * W + p.off[k];
      const float s = rstd_of(x, p.len[k], d.eps);
      for (int i = 0; i < p.len[k]; ++i) p.dw[k][i] += gy[i] * x[i] * s;
    }
  }
#pragma omp parallel for schedule(static)
  for (int r = 0; r < d.rows(); ++r) {
    for (int k = 0; k < 3; ++k) {
      const float* x = raw + static_cast<std::size_t>(r) * W + p.off[k];
      float* gx = g + static_cast<std::size_t>(r) * W + p.off[k];
      const int n = p.len[k];
      const float s = rstd_of(x, n, d.eps);
      double dot = 0;  // Σ x·w·g
      for (int i = 0; i < n; ++i) dot += static_cast<double>(x[i]) * p.w[k][i] * gx[i];
      const float c = static_cast<float>(dot / n) * s * s * s;
      for (int i = 0; i < n; ++i) gx[i] = s * p.w[k][i] * gx[i] - c * x[i];
    }
  }
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
  d.dbc_norm = c.ssm.dt_bc_norm;
  d.eps = c.norm_eps;
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
  out[4] = {"dt_low", M * d.R};
  out[5] = {"dt", M * Di};
  out[6] = {"y", M * Di};
  out[7] = {"gated", M * Di};
  out[8] = {"dbc_raw", d.dbc_norm ? M * d.dbc_width() : 0};
}

void ssm_scratch_specs(const SsmDims& d, SsmBufferSpec out[kSsmScratchCount]) {
  const std::size_t M = d.rows(), Di = d.Di;
  out[0] = {"dgated", M * Di};
  out[1] = {"dxz", M * 2 * Di};
  out[2] = {"dxc", M * Di};
  out[3] = {"ddt", M * Di};
  out[4] = {"ddbc", M * d.dbc_width()};
  out[5] = {"ddt_low", M * d.R};
  out[6] = {"scan", ssm_scan_backward_scratch_floats(d.B, d.T, d.Di, d.N)};
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
  float** fields[] = {&a->xz, &a->conv_pre, &a->xc, &a->dbc, &a->dt_low, &a->dt, &a->y, &a->gated, &a->dbc_raw};
  return point_all(fields, specs, kSsmActivationCount, base);
}

std::size_t ssm_point_scratch(SsmScratch* s, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmScratchCount];
  ssm_scratch_specs(d, specs);
  float** fields[] = {&s->dgated, &s->dxz, &s->dxc, &s->ddt, &s->ddbc, &s->ddt_low, &s->scan};
  return point_all(fields, specs, kSsmScratchCount, base);
}

std::size_t ssm_point_state(SsmState* s, float* base, const SsmDims& d) {
  SsmBufferSpec specs[kSsmStateCount];
  ssm_state_specs(d, specs);
  float** fields[] = {&s->conv, &s->ssm};
  return point_all(fields, specs, kSsmStateCount, base);
}

SsmWeights ssm_weights_plain(const SsmParams& w, const SsmParams* g, const SsmDims& d) {
  SsmWeights s;
  const int Di = d.Di;
  s.in_proj = Linear::plain(w.in_proj, g ? g->in_proj : nullptr, 2 * Di, d.D);
  s.x_proj = Linear::plain(w.x_proj, g ? g->x_proj : nullptr, d.dbc_width(), Di);
  s.dt_proj = Linear::plain(w.dt_proj, g ? g->dt_proj : nullptr, Di, d.R);
  s.out_proj = Linear::plain(w.out_proj, g ? g->out_proj : nullptr, d.D, Di);
  s.conv_w = w.conv_w;
  s.conv_b = w.conv_b;
  s.dt_bias = w.dt_bias;
  s.A_log = w.A_log;
  s.D = w.D;
  if (g) {
    s.dconv_w = g->conv_w;
    s.dconv_b = g->conv_b;
    s.ddt_bias = g->dt_bias;
    s.dA_log = g->A_log;
    s.dD = g->D;
  }
  return s;
}

void ssm_block_forward(float* out, const SsmActivations& act, const float* x, const SsmWeights& w,
                       SsmState* state, const SsmDims& d, const int32_t* doc_start) {
  const int M = d.rows(), Di = d.Di, W = d.dbc_width();
  // xz = x·in_projᵀ
  w.in_proj.forward(act.xz, x, M, false);
  // xc = silu(conv(x_in) + bias)
  ssm_conv_forward(act.conv_pre, act.xc, act.xz, 2 * Di, state ? state->conv : nullptr, w.conv_w,
                   w.conv_b, d.B, d.T, Di, d.K, doc_start);
  if (state) ssm_conv_update_history(state->conv, act.xz, 2 * Di, d.B, d.T, Di, d.K);
  // dbc = xc·x_projᵀ (Jamba: then its dt, B and C parts normalized); dt = softplus(dt_low·dt_projᵀ + dt_bias)
  w.x_proj.forward(d.dbc_norm ? act.dbc_raw : act.dbc, act.xc, M, false);
  if (d.dbc_norm) dbc_norm_forward(act.dbc, act.dbc_raw, w, d);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r)
    std::memcpy(act.dt_low + static_cast<std::size_t>(r) * d.R, act.dbc + static_cast<std::size_t>(r) * W,
                sizeof(float) * d.R);
  w.dt_proj.forward(act.dt, act.dt_low, M, false);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* dt = act.dt + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) dt[i] = fast_softplusf(dt[i] + w.dt_bias[i]);
  }
  // y = scan; gated = y ⊙ silu(z)
  float* ssm_state = state ? state->ssm : nullptr;
  ssm_scan_forward(act.y, ssm_state, act.xc, act.dt, w.A_log, act.dbc + d.R, act.dbc + d.R + d.N, W,
                   w.D, ssm_state, d.B, d.T, Di, d.N, doc_start);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.xz + static_cast<std::size_t>(r) * 2 * Di + Di;
    float* g = act.gated + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) g[i] = y[i] * fast_siluf(z[i]);
  }
  // out += gated·out_projᵀ
  w.out_proj.forward(out, act.gated, M, true);
}

void ssm_block_backward(float* dx, const float* dout, const float* x, const SsmActivations& act,
                        const SsmWeights& w, const SsmScratch& s, const SsmDims& d, const int32_t* doc_start) {
  const int M = d.rows(), Di = d.Di, W = d.dbc_width();
  const std::size_t Mz = static_cast<std::size_t>(M);
  // out_proj
  std::memset(s.dgated, 0, sizeof(float) * Mz * Di);
  w.out_proj.backward(s.dgated, dout, act.gated, M);
  // gate: dz = dgated·y·silu'(z) into dxz[:, Di:], dy = dgated·silu(z) in place; dxz[:, :Di] = 0
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* dg = s.dgated + static_cast<std::size_t>(r) * Di;
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.xz + static_cast<std::size_t>(r) * 2 * Di + Di;
    float* dxz = s.dxz + static_cast<std::size_t>(r) * 2 * Di;
    for (int i = 0; i < Di; ++i) {
      dxz[i] = 0.0f;
      const float sz = fast_sigmoidf(z[i]);  // silu = z·σ(z), silu' = σ(z)·(1 + z·(1 − σ(z)))
      dxz[Di + i] = dg[i] * y[i] * sz * (1.0f + z[i] * (1.0f - sz));
      dg[i] *= z[i] * sz;
    }
  }
  // scan
  std::memset(s.dxc, 0, sizeof(float) * Mz * Di);
  std::memset(s.ddt, 0, sizeof(float) * Mz * Di);
  std::memset(s.ddbc, 0, sizeof(float) * Mz * W);
  ssm_scan_backward(s.dxc, s.ddt, w.dA_log, s.ddbc + d.R, s.ddbc + d.R + d.N, w.dD, s.dgated, act.xc,
                    act.dt, w.A_log, act.dbc + d.R, act.dbc + d.R + d.N, W, w.D, s.scan, d.B, d.T, Di, d.N,
                    doc_start);
  // dt = softplus(pre): d(pre) = ddt·σ(pre); dt_bias, dt_proj, and dt_low into ddbc[:, :R]
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* g = s.ddt + static_cast<std::size_t>(r) * Di;
    const float* dt = act.dt + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) g[i] *= softplus_grad_from_output(dt[i]);
  }
  if (w.ddt_bias) {
    for (int r = 0; r < M; ++r) {
      const float* g = s.ddt + static_cast<std::size_t>(r) * Di;
      for (int i = 0; i < Di; ++i) w.ddt_bias[i] += g[i];
    }
  }
  std::memset(s.ddt_low, 0, sizeof(float) * Mz * d.R);
  w.dt_proj.backward(s.ddt_low, s.ddt, act.dt_low, M);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r)
    std::memcpy(s.ddbc + static_cast<std::size_t>(r) * W, s.ddt_low + static_cast<std::size_t>(r) * d.R,
                sizeof(float) * d.R);
  // Jamba's norms; x_proj (dxc accumulates on top of the scan's du)
  if (d.dbc_norm) dbc_norm_backward(s.ddbc, act.dbc_raw, w, d);
  w.x_proj.backward(s.dxc, s.ddbc, act.xc, M);
  // conv (dxc becomes d(conv_pre)); dx_in into dxz[:, :Di]
  ssm_conv_backward(s.dxz, 2 * Di, w.dconv_w, w.dconv_b, s.dxc, act.conv_pre, act.xz, 2 * Di, w.conv_w,
                    d.B, d.T, Di, d.K, doc_start);
  // in_proj
  w.in_proj.backward(dx, s.dxz, x, M);
}

double ssm_block_forward_flops(const SsmDims& d) {
  const double M = d.rows(), D = d.D, Di = d.Di;
  return 2.0 * M * (D * 2 * Di + Di * d.dbc_width() + d.R * Di + Di * D);
}

bool ssm_init_tensor(const std::string& name, float* data, const SsmDims& d, Rng& rng) {
  const int Di = d.Di;
  if (name == "A_log") {
    for (int i = 0; i < Di; ++i)
      for (int n = 0; n < d.N; ++n) data[static_cast<std::size_t>(i) * d.N + n] = std::log(static_cast<float>(n + 1));
  } else if (name == "D") {
    std::fill(data, data + Di, 1.0f);
  } else if (name == "conv.bias") {
    std::fill(data, data + Di, 0.0f);
  } else if (name == "dt_proj.bias") {
    const double lo = std::log(0.001), hi = std::log(0.1);
    for (int i = 0; i < Di; ++i) {
      const double dt = std::exp(lo + (hi - lo) * rng.uniform());
      data[i] = static_cast<float>(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt)
    }
  } else if (name == "conv.weight" || name == "dt_proj.weight") {
    const double bound = 1.0 / std::sqrt(name == "conv.weight" ? d.K : d.R);
    const std::size_t n = static_cast<std::size_t>(Di) * (name == "conv.weight" ? d.K : d.R);
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  } else {
    return false;
  }
  return true;
}

}  // namespace trainer
