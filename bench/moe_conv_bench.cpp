// Microbenchmarks of hybrid-small's MoE sub-layer and of its SSM block's causal depthwise conv1d, at
// B=4, T=256. MoE (trainer/moe_block.h): 8 SwiGLU experts of width 384, top-2, a shared expert of
// width 384, d_model 384, so M = 1024 tokens and 2048 assignment rows. Routing, grouping tokens by
// expert, gathering their rows and scattering the gated outputs back happen inside
// moe_block_forward / moe_block_backward and have no public function of their own, so the block is
// timed whole (BM_MoeBlock) and so are its expert products alone (BM_MoeExperts: every expert's
// gate/up/down Linear over the rows a real routing gave it, one expert after another with each
// product on all threads, plus the shared expert over all tokens, through the public Linear and the
// dense SwiGLU kernel). That is the block's schedule for quantized or LoRA experts, so there block
// minus experts is the routing, dispatch and combine (with the router's small product); plain fp32
// experts run side by side in the block (one per thread), so the block can beat BM_MoeExperts.
// Conv (trainer/ssm_kernels.h): inner
// width 768, kernel 4, input rows strided inside in_proj's output (ldx = 2·768) as the block does.
//
// Each case is checked before it is timed: the block's forward against a naive double-precision
// router, top-k, experts and combine on sampled tokens, its backward against a central finite
// difference on a small instance (all weight gradients and dx, along random directions); the experts
// alone against the block's own expert outputs and input gradients; the conv forward and backward
// against naive double loops. The block and the experts report matmul GFLOP/s against the sgemm
// peak; the conv reports GB/s of the tensors it must move against the triad bandwidth.
//
//   build-dir/bench/moe_conv_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_limits.h"
#include "trainer/kernels.h"
#include "trainer/moe_block.h"
#include "trainer/ssm_kernels.h"

namespace {

using benchdata::close;
using benchdata::randn;

double silu(double x) { return x / (1.0 + std::exp(-x)); }

size_t total(const std::vector<trainer::MoeBufferSpec>& specs) {
  size_t n = 0;
  for (const auto& s : specs) n += s.elems;
  return n;
}

// ---- MoE ----

trainer::MoeDims hybrid_small_moe() {
  trainer::MoeDims d;
  d.M = 4 * 256;
  d.D = 384;
  d.X = 8;
  d.k = 2;
  d.Fe = 384;
  d.Fs = 384;
  return d;
}

// One MoE block over its own buffers: weights, gradients, activations, scratch, input, dout.
struct Moe {
  trainer::MoeDims d;
  std::vector<float> wbuf, gbuf, abuf, sbuf, x, out, dout, dx;
  trainer::MoeParams p, g;
  trainer::MoeActivations a;
  trainer::MoeScratch s;
  trainer::MoeWeights w;

  Moe(const trainer::MoeDims& dims, uint32_t seed) : d(dims) {
    wbuf = randn(int64_t(total(trainer::moe_param_specs(d))), 0.05f, seed);
    gbuf.assign(wbuf.size(), 0.0f);
    abuf.assign(total(trainer::moe_activation_specs(d)), 0.0f);
    sbuf.assign(total(trainer::moe_scratch_specs(d)), 0.0f);
    trainer::moe_point_params(&p, wbuf.data(), d);
    trainer::moe_point_params(&g, gbuf.data(), d);
    trainer::moe_point_activations(&a, abuf.data(), d);
    trainer::moe_point_scratch(&s, sbuf.data(), d);
    w = trainer::moe_weights_plain(p, &g, d);
    x = randn(int64_t(d.M) * d.D, 1.0f, seed + 1);
    dout = randn(int64_t(d.M) * d.D, 1.0f, seed + 2);
    out.assign(x.size(), 0.0f);
    dx.assign(x.size(), 0.0f);
  }
  float forward() {
    std::fill(out.begin(), out.end(), 0.0f);
    return trainer::moe_block_forward(out.data(), a, x.data(), w, d);
  }
  void backward(float aux_grad) {
    std::fill(dx.begin(), dx.end(), 0.0f);
    std::fill(gbuf.begin(), gbuf.end(), 0.0f);
    trainer::moe_block_backward(dx.data(), dout.data(), x.data(), aux_grad, a, w, s, d);
  }
  // Σ out·dout + aux_grad·aux in double: the loss whose gradient backward(aux_grad) computes.
  double loss(float aux_grad) {
    const float aux = forward();
    double l = double(aux_grad) * aux;
    for (size_t i = 0; i < out.size(); ++i) l += double(out[i]) * dout[i];
    return l;
  }
};

// Naive SwiGLU of one token in double: y (D) = down · (silu(gate·x) ⊙ (up·x)).
void naive_swiglu(double* y, const float* x, const trainer::SwigluParams& w, int D, int F) {
  std::vector<double> h(static_cast<size_t>(F));
  for (int f = 0; f < F; ++f) {
    double hg = 0, hu = 0;
    for (int i = 0; i < D; ++i) {
      hg += double(w.gate[size_t(f) * D + i]) * x[i];
      hu += double(w.up[size_t(f) * D + i]) * x[i];
    }
    h[size_t(f)] = silu(hg) * hu;
  }
  for (int i = 0; i < D; ++i) {
    double acc = 0;
    for (int f = 0; f < F; ++f) acc += double(w.down[size_t(i) * F + f]) * h[size_t(f)];
    y[i] += acc;
  }
}

// Block forward against the naive router, top-k, experts and combine on every 16th token. A token
// whose k-th and (k+1)-th probabilities are within 1e-5 (a tie float rounding may break either
// way) is not compared.
bool check_moe_forward(Moe& m) {
  const auto& d = m.d;
  m.forward();
  int compared = 0;
  for (int t = 0; t < d.M; t += 16) {
    const float* x = &m.x[size_t(t) * d.D];
    std::vector<double> p(size_t(d.X));
    double mx = -1e300, sum = 0;
    for (int e = 0; e < d.X; ++e) {
      double z = 0;
      for (int i = 0; i < d.D; ++i) z += double(m.p.router[size_t(e) * d.D + i]) * x[i];
      p[size_t(e)] = z;
      mx = std::max(mx, z);
    }
    for (double& v : p) sum += (v = std::exp(v - mx));
    for (double& v : p) v /= sum;
    std::vector<int> order(size_t(d.X));
    for (int e = 0; e < d.X; ++e) order[size_t(e)] = e;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p[size_t(a)] > p[size_t(b)]; });
    if (d.k < d.X && p[size_t(order[size_t(d.k - 1)])] - p[size_t(order[size_t(d.k)])] < 1e-5) continue;
    double gsum = 0;
    for (int j = 0; j < d.k; ++j) gsum += p[size_t(order[size_t(j)])];
    std::vector<double> y(size_t(d.D), 0.0), ye(size_t(d.D));
    for (int j = 0; j < d.k; ++j) {
      const int e = order[size_t(j)];
      std::fill(ye.begin(), ye.end(), 0.0);
      naive_swiglu(ye.data(), x, m.p.experts[size_t(e)], d.D, d.Fe);
      for (int i = 0; i < d.D; ++i) y[size_t(i)] += p[size_t(e)] / gsum * ye[size_t(i)];
    }
    if (d.Fs > 0) naive_swiglu(y.data(), x, m.p.shared, d.D, d.Fs);
    for (int i = 0; i < d.D; ++i) {
      if (!close(m.out[size_t(t) * d.D + i], y[size_t(i)], 2e-3)) return false;
    }
    ++compared;
  }
  return compared >= d.M / 32;
}

// Block backward against a central finite difference of Σ out·dout + aux_grad·aux on a small
// instance, for x and for all the weights at once, along two directions each: the computed gradient
// itself (scaled to unit RMS; no cancellation, so a gradient off by a few percent fails) and a
// random one. The step shrinks (then, for a random direction, the direction is replaced) while the
// perturbation changes a top-k choice.
bool check_moe_backward() {
  trainer::MoeDims d;
  d.M = 24, d.D = 16, d.X = 4, d.k = 2, d.Fe = 12, d.Fs = 8;
  Moe m(d, 11);
  for (float& v : m.wbuf) v *= 4.0f;  // 0.2: routing logits of order 1
  const float aux_grad = 0.5f;
  m.forward();
  const std::vector<int32_t> topk(m.a.topk, m.a.topk + size_t(d.M) * d.k);
  m.backward(aux_grad);
  const std::vector<float> dx = m.dx, dw = m.gbuf;
  // Analytic against finite difference along r: 1 = agree, 0 = differ, -1 = every step changed a top-k choice.
  auto along = [&](std::vector<float>* target, const std::vector<float>& grad, const std::vector<float>& r) {
    const std::vector<float> keep = *target;
    for (const float eps : {1e-2f, 3e-3f, 1e-3f}) {
      double l[2];
      bool same = true;
      for (int i = 0; i < 2; ++i) {
        const float sign = i == 0 ? 1.0f : -1.0f;
        for (size_t j = 0; j < r.size(); ++j) (*target)[j] = keep[j] + sign * eps * r[j];
        l[i] = m.loss(aux_grad);
        same = same && std::equal(topk.begin(), topk.end(), m.a.topk);
      }
      *target = keep;
      if (!same) continue;
      double an = 0;
      for (size_t j = 0; j < r.size(); ++j) an += double(grad[j]) * r[j];
      return close(an, (l[0] - l[1]) / (2.0 * eps), 1e-2) ? 1 : 0;
    }
    return -1;
  };
  for (std::vector<float>* target : {&m.x, &m.wbuf}) {
    const std::vector<float>& grad = target == &m.x ? dx : dw;
    double ss = 0;
    for (float g : grad) ss += double(g) * g;
    std::vector<float> unit(grad.size());
    for (size_t j = 0; j < grad.size(); ++j) unit[j] = float(grad[j] / std::sqrt(ss / double(grad.size()) + 1e-30));
    if (along(target, grad, unit) != 1) return false;
    int result = -1;
    for (uint32_t seed = 30; seed < 40 && result == -1; ++seed)
      result = along(target, grad, randn(int64_t(target->size()), 1.0f, seed));
    if (result != 1) return false;
  }
  return true;
}

// The expert products of the block alone: per expert, gate/up/down over its group of rows (the
// grouping of a real forward), and the shared expert over every token.
struct Experts {
  Moe& m;
  std::vector<float> y, dxg, dxs, sy;
  explicit Experts(Moe& moe)
      : m(moe), y(size_t(moe.d.assignments()) * moe.d.D), dxg(y.size()), dxs(moe.x.size()), sy(moe.x.size()) {}

  void swiglu(float* out, float* hg, float* hu, float* h, const float* x, const trainer::SwigluLinears& w, int rows,
              int F) {
    w.gate.forward(hg, x, rows, false);
    w.up.forward(hu, x, rows, false);
    trainer::swiglu_forward(h, hg, hu, int64_t(rows) * F);
    w.down.forward(out, h, rows, false);
  }
  void swiglu_backward(float* dx, const float* dy, const float* x, const float* hg, const float* hu, const float* h,
                       const trainer::SwigluLinears& w, float* dh, float* dhg, float* dhu, int rows, int F) {
    const size_t n = size_t(rows) * F;
    std::memset(dh, 0, sizeof(float) * n);
    std::memset(dhg, 0, sizeof(float) * n);
    std::memset(dhu, 0, sizeof(float) * n);
    w.down.backward(dh, dy, h, rows);
    trainer::swiglu_backward(dhg, dhu, dh, hg, hu, n);
    w.gate.backward(dx, dhg, x, rows);
    w.up.backward(dx, dhu, x, rows);
  }
  void forward() {
    const auto& d = m.d;
    const auto& a = m.a;
    for (int e = 0; e < d.X; ++e) {
      const int r0 = a.offset[e], rows = a.offset[e + 1] - r0;
      if (rows == 0) continue;
      const size_t hf = size_t(r0) * d.Fe, hd = size_t(r0) * d.D;
      swiglu(y.data() + hd, a.h_gate + hf, a.h_up + hf, a.h + hf, a.xg + hd, m.w.experts[size_t(e)], rows, d.Fe);
    }
    if (d.Fs > 0) swiglu(sy.data(), a.s_gate, a.s_up, a.s_h, m.x.data(), m.w.shared, d.M, d.Fs);
  }
  void backward() {  // from the block's own dy (the gated output gradient of each assignment row)
    const auto& d = m.d;
    const auto& a = m.a;
    const auto& s = m.s;
    std::fill(dxg.begin(), dxg.end(), 0.0f);
    for (int e = 0; e < d.X; ++e) {
      const int r0 = a.offset[e], rows = a.offset[e + 1] - r0;
      if (rows == 0) continue;
      const size_t hf = size_t(r0) * d.Fe, hd = size_t(r0) * d.D;
      swiglu_backward(dxg.data() + hd, s.dy + hd, a.xg + hd, a.h_gate + hf, a.h_up + hf, a.h + hf,
                      m.w.experts[size_t(e)], s.dh + hf, s.dh_gate + hf, s.dh_up + hf, rows, d.Fe);
    }
    if (d.Fs > 0) {
      std::fill(dxs.begin(), dxs.end(), 0.0f);
      swiglu_backward(dxs.data(), m.dout.data(), m.x.data(), a.s_gate, a.s_up, a.s_h, m.w.shared, s.ds_h, s.ds_gate,
                      s.ds_up, d.M, d.Fs);
    }
  }
  double flops() const {  // one forward: the routed experts' and the shared expert's products
    const auto& d = m.d;
    return 2.0 * d.assignments() * 3.0 * d.D * d.Fe + 2.0 * d.M * 3.0 * d.D * d.Fs;
  }
};

// y of the experts alone equals the block's saved expert outputs; dxg equals the block's own.
bool check_experts(Moe& m, Experts& ex) {
  m.forward();
  m.backward(0.01f);
  const std::vector<float> y_block(m.a.y, m.a.y + ex.y.size()), dxg_block(m.s.dxg, m.s.dxg + ex.dxg.size());
  ex.forward();
  ex.backward();
  for (size_t i = 0; i < ex.y.size(); i += 5) {
    if (!close(ex.y[i], y_block[i], 1e-3) || !close(ex.dxg[i], dxg_block[i], 1e-3)) return false;
  }
  return true;
}

void BM_MoeBlock(benchmark::State& state, bool backward) {
  Moe m(hybrid_small_moe(), 1);
  if (!check_moe_forward(m)) {
    state.SkipWithError("moe_block_forward differs from the naive router/top-k/experts/combine");
    return;
  }
  if (backward && !check_moe_backward()) {
    state.SkipWithError("moe_block_backward differs from a finite difference of the forward");
    return;
  }
  m.forward();
  for (auto _ : state) {
    if (backward) {
      trainer::moe_block_backward(m.dx.data(), m.dout.data(), m.x.data(), 0.01f, m.a, m.w, m.s, m.d);
    } else {
      benchmark::DoNotOptimize(trainer::moe_block_forward(m.out.data(), m.a, m.x.data(), m.w, m.d));
    }
  }
  const double fwd = trainer::moe_block_forward_flops(m.d);
  benchlimits::report_flops(state, backward ? 2 * fwd : fwd);
}

void BM_MoeExperts(benchmark::State& state, bool backward) {
  Moe m(hybrid_small_moe(), 1);
  Experts ex(m);
  if (!check_experts(m, ex)) {
    state.SkipWithError("the expert products alone differ from the block's");
    return;
  }
  for (auto _ : state) {
    if (backward) {
      ex.backward();
    } else {
      ex.forward();
    }
  }
  benchlimits::report_flops(state, backward ? 2 * ex.flops() : ex.flops());
}

// ---- causal depthwise conv1d of the SSM block ----

constexpr int kB = 4, kT = 256, kDi = 768, kK = 4, kLdx = 2 * kDi;

struct Conv {
  std::vector<float> x, w, bias, pre, act, dact, dx, dw, db;
  Conv()
      : x(randn(int64_t(kB) * kT * kLdx, 1.0f, 1)), w(randn(int64_t(kDi) * kK, 0.5f, 2)), bias(randn(kDi, 0.1f, 3)),
        pre(size_t(kB) * kT * kDi), act(pre.size()), dact(randn(int64_t(pre.size()), 1.0f, 4)),
        dx(x.size(), 0.0f), dw(w.size(), 0.0f), db(bias.size(), 0.0f) {}
  void forward() {
    trainer::ssm_conv_forward(pre.data(), act.data(), x.data(), kLdx, nullptr, w.data(), bias.data(), kB, kT, kDi, kK);
  }
  void backward(float* g) {
    trainer::ssm_conv_backward(dx.data(), kLdx, dw.data(), db.data(), g, pre.data(), x.data(), kLdx, w.data(), kB, kT,
                               kDi, kK);
  }
  double xin(int b, int t, int d) const { return t < 0 ? 0.0 : double(x[(size_t(b) * kT + t) * kLdx + d]); }
  double naive_pre(int b, int t, int d) const {
    double p = bias[size_t(d)];
    for (int j = 0; j < kK; ++j) p += double(w[size_t(d) * kK + j]) * xin(b, t - kK + 1 + j, d);
    return p;
  }
};

bool check_conv_forward(Conv& c) {
  c.forward();
  for (int b = 0; b < kB; ++b) {
    for (int t = 0; t < kT; ++t) {
      for (int d = 0; d < kDi; d += 7) {
        const double p = c.naive_pre(b, t, d);
        const size_t i = (size_t(b) * kT + t) * kDi + d;
        if (!close(c.pre[i], p, 1e-4) || !close(c.act[i], silu(p), 1e-3)) return false;
      }
    }
  }
  return true;
}

// dpre = dact · silu'(pre); dx[s] = Σ_j w[j]·dpre[s+K-1-j]; dw[j] = Σ dpre[t]·x[t-K+1+j]; db = Σ dpre.
bool check_conv_backward(Conv& c) {
  c.forward();
  std::vector<float> g = c.dact;
  std::fill(c.dx.begin(), c.dx.end(), 0.0f);
  std::fill(c.dw.begin(), c.dw.end(), 0.0f);
  std::fill(c.db.begin(), c.db.end(), 0.0f);
  c.backward(g.data());
  for (int d = 0; d < kDi; d += 5) {
    std::vector<double> dpre(size_t(kB) * kT), dw(size_t(kK), 0.0);
    double db = 0;
    for (int b = 0; b < kB; ++b) {
      for (int t = 0; t < kT; ++t) {
        const double p = c.naive_pre(b, t, d), s = 1.0 / (1.0 + std::exp(-p));
        const double gp = c.dact[(size_t(b) * kT + t) * kDi + d] * s * (1.0 + p * (1.0 - s));
        dpre[size_t(b) * kT + t] = gp;
        db += gp;
        for (int j = 0; j < kK; ++j) dw[size_t(j)] += gp * c.xin(b, t - kK + 1 + j, d);
      }
    }
    for (int b = 0; b < kB; ++b) {
      for (int s = 0; s < kT; ++s) {
        double want = 0;
        for (int j = 0; j < kK; ++j) {
          if (s + kK - 1 - j < kT) want += double(c.w[size_t(d) * kK + j]) * dpre[size_t(b) * kT + s + kK - 1 - j];
        }
        if (!close(c.dx[(size_t(b) * kT + s) * kLdx + d], want, 1e-3)) return false;
      }
    }
    if (!close(c.db[size_t(d)], db, 1e-3)) return false;
    for (int j = 0; j < kK; ++j) {
      if (!close(c.dw[size_t(d) * kK + j], dw[size_t(j)], 1e-3)) return false;
    }
  }
  return true;
}

void BM_ConvForward(benchmark::State& state) {
  Conv c;
  if (!check_conv_forward(c)) {
    state.SkipWithError("ssm_conv_forward differs from the naive causal conv + silu");
    return;
  }
  for (auto _ : state) c.forward();
  benchlimits::report_bytes(state, 4.0 * kB * kT * kDi * 3);  // read x, write pre and act
}

void BM_ConvBackward(benchmark::State& state) {
  Conv c;
  if (!check_conv_backward(c)) {
    state.SkipWithError("ssm_conv_backward differs from the naive gradients");
    return;
  }
  std::vector<float> g(c.dact.size());
  for (auto _ : state) {
    state.PauseTiming();  // the backward overwrites its dact with d(pre)
    std::copy(c.dact.begin(), c.dact.end(), g.begin());
    state.ResumeTiming();
    c.backward(g.data());
  }
  benchlimits::report_bytes(state, 4.0 * kB * kT * kDi * 6);  // read dact, pre, x, dx; write d(pre), dx
}

}  // namespace

BENCHMARK_CAPTURE(BM_MoeBlock, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeBlock, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeExperts, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeExperts, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ConvForward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ConvBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) { return benchlimits::run_main(argc, argv); }
