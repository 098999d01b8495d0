// The `mamba2` sub-layer (see mamba2_block.h): Linear maps for in_proj and out_proj, the SSM conv
// kernels over xBC, the chunked SSD scan, and small OpenMP loops for softplus, the SiLU(z) gate and
// the grouped RMSNorm.
#pragma GCC optimize("no-trapping-math")  // lets fast_expf vectorize (see ssm_scan.cpp)

#include "trainer/layers/mamba2_block.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/kernels/simd_math.h"
#include "trainer/kernels/ssd.h"
#include "trainer/kernels/ssm.h"
#include "trainer/model_config.h"

namespace trainer {
namespace {

SsdDims ssd_dims(const Mamba2Dims& d) { return {d.B, d.T, d.H, d.P, d.G, d.N, d.Q, d.xbc_width()}; }

}  // namespace

Mamba2Dims mamba2_dims(const ModelConfig& c, int B, int T) {
  Mamba2Dims d;
  d.B = B;
  d.T = T;
  d.D = c.d_model;
  d.Di = c.mamba2.d_inner > 0 ? c.mamba2.d_inner : 2 * c.d_model;
  d.P = c.mamba2.head_dim;
  d.H = d.P > 0 ? d.Di / d.P : 0;
  d.G = c.mamba2.n_groups;
  d.N = c.mamba2.d_state;
  d.K = c.mamba2.d_conv;
  d.Q = c.mamba2.chunk;
  d.eps = c.norm_eps;
  return d;
}

void mamba2_activation_specs(const Mamba2Dims& d, Mamba2BufferSpec out[kMamba2ActivationCount]) {
  const std::size_t M = d.rows(), Di = d.Di;
  out[0] = {"zxbcdt", M * d.in_width()};
  out[1] = {"conv_pre", M * d.xbc_width()};
  out[2] = {"xbc", M * d.xbc_width()};
  out[3] = {"dt", M * d.H};
  out[4] = {"y", M * Di};
  out[5] = {"gated", M * Di};
  out[6] = {"rstd", M * d.G};
  out[7] = {"normed", M * Di};
}

void mamba2_scratch_specs(const Mamba2Dims& d, Mamba2BufferSpec out[kMamba2ScratchCount]) {
  const std::size_t M = d.rows();
  out[0] = {"dnormed", M * d.Di};
  out[1] = {"dzxbcdt", M * d.in_width()};
  out[2] = {"dxbc", M * d.xbc_width()};
  out[3] = {"ddt", M * d.H};
  out[4] = {"scan", ssd_scan_backward_scratch_floats(ssd_dims(d))};
}

std::size_t mamba2_point_activations(Mamba2Activations* a, float* base, const Mamba2Dims& d) {
  Mamba2BufferSpec specs[kMamba2ActivationCount];
  mamba2_activation_specs(d, specs);
  float** fields[] = {&a->zxbcdt, &a->conv_pre, &a->xbc, &a->dt, &a->y, &a->gated, &a->rstd, &a->normed};
  std::size_t used = 0;
  for (int i = 0; i < kMamba2ActivationCount; ++i) {
    *fields[i] = base ? base + used : nullptr;
    used += specs[i].floats;
  }
  return used;
}

std::size_t mamba2_point_state(Mamba2State* s, float* base, const Mamba2Dims& d) {
  const std::size_t conv = static_cast<std::size_t>(d.B) * std::max(0, d.K - 1) * d.xbc_width();
  const std::size_t ssm = static_cast<std::size_t>(d.B) * d.H * d.P * d.N;
  s->conv = base;
  s->ssm = base ? base + conv : nullptr;
  return conv + ssm;
}

void mamba2_block_forward(float* out, const Mamba2Activations& act, const float* x, const Mamba2Weights& w,
                          Mamba2State* state, const Mamba2Dims& d, const int32_t* doc_start) {
  const int M = d.rows(), Di = d.Di, Cx = d.xbc_width(), Wi = d.in_width(), H = d.H, G = d.G;
  w.in_proj.forward(act.zxbcdt, x, M, false);
  ssm_conv_forward(act.conv_pre, act.xbc, act.zxbcdt + Di, Wi, state ? state->conv : nullptr, w.conv_w, w.conv_b, d.B,
                   d.T, Cx, d.K, doc_start);
  if (state) ssm_conv_update_history(state->conv, act.zxbcdt + Di, Wi, d.B, d.T, Cx, d.K);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    const float* raw = act.zxbcdt + static_cast<std::size_t>(r) * Wi + Di + Cx;
    float* dt = act.dt + static_cast<std::size_t>(r) * H;
    for (int h = 0; h < H; ++h) dt[h] = fast_softplusf(raw[h] + w.dt_bias[h]);
  }
  float* ssm_state = state ? state->ssm : nullptr;
  ssd_scan_forward(act.y, ssm_state, act.xbc, act.xbc + Di, act.xbc + Di + G * d.N, act.dt, w.A_log, w.D, ssm_state,
                   ssd_dims(d), doc_start);
  // g = y ⊙ silu(z), then RMSNorm over each group of Di/G channels.
  const int C = Di / G;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.zxbcdt + static_cast<std::size_t>(r) * Wi;
    float* g = act.gated + static_cast<std::size_t>(r) * Di;
    float* n = act.normed + static_cast<std::size_t>(r) * Di;
    for (int i = 0; i < Di; ++i) g[i] = y[i] * fast_siluf(z[i]);
    for (int k = 0; k < G; ++k) {
      double ss = 0.0;
      for (int i = k * C; i < (k + 1) * C; ++i) ss += static_cast<double>(g[i]) * g[i];
      const float rstd = static_cast<float>(1.0 / std::sqrt(ss / C + d.eps));
      act.rstd[static_cast<std::size_t>(r) * G + k] = rstd;
      for (int i = k * C; i < (k + 1) * C; ++i) n[i] = g[i] * rstd * w.norm_w[i];
    }
  }
  w.out_proj.forward(out, act.normed, M, true);
}

void mamba2_block_backward(float* dx, const float* dout, const float* x, const Mamba2Activations& act,
                           const Mamba2Weights& w, const Mamba2Scratch& s, const Mamba2Dims& d,
                           const int32_t* doc_start) {
  const int M = d.rows(), Di = d.Di, Cx = d.xbc_width(), Wi = d.in_width(), H = d.H, G = d.G, C = Di / G;
  const std::size_t Mz = static_cast<std::size_t>(M);
  std::memset(s.dnormed, 0, sizeof(float) * Mz * Di);
  w.out_proj.backward(s.dnormed, dout, act.normed, M);
  // norm.weight: Σ over rows of dn ⊙ g ⊙ rstd (parallel over channels).
  if (w.dnorm_w) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < Di; ++i) {
      double acc = 0.0;
      for (int r = 0; r < M; ++r) {
        const std::size_t k = static_cast<std::size_t>(r) * Di + i;
        acc += static_cast<double>(s.dnormed[k]) * act.gated[k] * act.rstd[static_cast<std::size_t>(r) * G + i / C];
      }
      w.dnorm_w[i] += static_cast<float>(acc);
    }
  }
  // Through the norm to dg, then the gate: dz into dzxbcdt[:, :Di], dy in place of dg.
  std::memset(s.dzxbcdt, 0, sizeof(float) * Mz * Wi);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* dn = s.dnormed + static_cast<std::size_t>(r) * Di;
    const float* g = act.gated + static_cast<std::size_t>(r) * Di;
    const float* y = act.y + static_cast<std::size_t>(r) * Di;
    const float* z = act.zxbcdt + static_cast<std::size_t>(r) * Wi;
    float* dz = s.dzxbcdt + static_cast<std::size_t>(r) * Wi;
    for (int k = 0; k < G; ++k) {
      const float rstd = act.rstd[static_cast<std::size_t>(r) * G + k];
      double dot = 0.0;
      for (int i = k * C; i < (k + 1) * C; ++i) dot += static_cast<double>(dn[i]) * w.norm_w[i] * g[i];
      const float c = static_cast<float>(dot / C) * rstd * rstd * rstd;
      for (int i = k * C; i < (k + 1) * C; ++i) dn[i] = rstd * w.norm_w[i] * dn[i] - g[i] * c;
    }
    for (int i = 0; i < Di; ++i) {
      const float sz = fast_sigmoidf(z[i]);
      dz[i] = dn[i] * y[i] * sz * (1.0f + z[i] * (1.0f - sz));
      dn[i] *= z[i] * sz;
    }
  }
  // The scan: dx, dB, dC into dxbc, ddt.
  std::memset(s.dxbc, 0, sizeof(float) * Mz * Cx);
  std::memset(s.ddt, 0, sizeof(float) * Mz * H);
  ssd_scan_backward(s.dxbc, s.dxbc + Di, s.dxbc + Di + G * d.N, s.ddt, w.dA_log, w.dD, s.dnormed, act.xbc, act.xbc + Di,
                    act.xbc + Di + G * d.N, act.dt, w.A_log, w.D, s.scan, ssd_dims(d), doc_start);
  // dt = softplus(raw + dt_bias).
#pragma omp parallel for schedule(static)
  for (int r = 0; r < M; ++r) {
    float* g = s.ddt + static_cast<std::size_t>(r) * H;
    const float* dt = act.dt + static_cast<std::size_t>(r) * H;
    float* draw = s.dzxbcdt + static_cast<std::size_t>(r) * Wi + Di + Cx;
    for (int h = 0; h < H; ++h) draw[h] = g[h] *= softplus_grad_from_output(dt[h]);
  }
  if (w.ddt_bias) {
    for (int r = 0; r < M; ++r)
      for (int h = 0; h < H; ++h) w.ddt_bias[h] += s.ddt[static_cast<std::size_t>(r) * H + h];
  }
  // The conv (dxbc becomes d(conv_pre)); d(xBC input) into dzxbcdt[:, Di:Di+Cx].
  ssm_conv_backward(s.dzxbcdt + Di, Wi, w.dconv_w, w.dconv_b, s.dxbc, act.conv_pre, act.zxbcdt + Di, Wi, w.conv_w, d.B,
                    d.T, Cx, d.K, doc_start);
  w.in_proj.backward(dx, s.dzxbcdt, x, M);
}

double mamba2_block_forward_flops(const Mamba2Dims& d) {
  const double M = d.rows(), D = d.D, Di = d.Di, Q = std::min(d.Q, d.T);
  // Per token and head: C·Bᵀ and W·x over a chunk (Q·(N + P)), the state read and update (2·P·N).
  const double scan = M * d.H * (Q * (d.N + d.P) + 2.0 * d.P * d.N);
  return 2.0 * (M * D * d.in_width() + M * Di * D + scan);
}

bool mamba2_init_tensor(const std::string& name, float* data, const Mamba2Dims& d, Rng& rng) {
  if (name == "A_log") {
    for (int h = 0; h < d.H; ++h) data[h] = static_cast<float>(std::log(1.0 + 15.0 * rng.uniform()));
  } else if (name == "dt_bias") {
    const double lo = std::log(0.001), hi = std::log(0.1);
    for (int h = 0; h < d.H; ++h) {
      const double dt = std::exp(lo + (hi - lo) * rng.uniform());
      data[h] = static_cast<float>(dt + std::log(-std::expm1(-dt)));  // softplus⁻¹(dt)
    }
  } else if (name == "conv.weight") {
    const double bound = 1.0 / std::sqrt(static_cast<double>(d.K));
    const std::size_t n = static_cast<std::size_t>(d.xbc_width()) * d.K;
    for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<float>((2.0 * rng.uniform() - 1.0) * bound);
  } else {
    return false;
  }
  return true;
}

}  // namespace trainer
