// Microbenchmarks of hybrid-small's MoE sub-layer at B=4, T=256 (its SSM conv1d is timed in
// bench/attention_ssm_bench.cpp). MoE (trainer/layers/moe_block.h): 8 SwiGLU experts of width 384, top-2, a shared expert of
// width 384, d_model 384, so M = 1024 tokens and 2048 assignment rows. The block is timed whole
// (BM_MoeBlock), with its experts running side by side, one per thread, each Linear with its own
// per-thread scratch slot (plain, LoRA and quantized alike). BM_MoeExperts times the expert products
// alone the other way: every expert's gate/up/down Linear over the rows a real routing gave it, one
// expert after another with each product on all threads, plus the shared expert over all tokens,
// so the block can beat it. The token-moving parts (trainer/layers/moe_routing.h) are timed one by one on
// a real routing: BM_MoeRoute (softmax, top-k, gates, grouping), BM_MoeDispatch (gather by expert),
// BM_MoeCombine (gated sum back to tokens) and the backwards BM_MoeCombineBackward (dgates, dy),
// BM_MoeRouteBackward (gates, aux and softmax to d(logits)), BM_MoeDispatchBackward (dx += dxg rows).
//
// Each case is checked before it is timed: the block's forward against a naive double-precision
// router, top-k, experts and combine on sampled tokens, its backward against a central finite
// difference on a small instance (all weight gradients and dx, along random directions); the experts
// alone against the block's own expert outputs and input gradients; routing against a naive
// softmax, stable sort and counting; each other token-moving kernel against a naive double loop
// (route backward against the Jacobian of p_e/Σp and of the aux term written out). The block and the experts report matmul GFLOP/s against
// the sgemm peak; the token-moving kernels report GB/s of the tensors they must move
// (counted at each case) against the triad bandwidth. At this size the MoE tensors (1.5 to 3 MiB)
// stay in the caches, so those can exceed the triad figure.
//
//   build-dir/bench/moe_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_limits.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layers/moe_block.h"
#include "trainer/layers/moe_routing.h"
#include "trainer/kernels/ssm.h"

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

// ---- routing, dispatch and combine alone (trainer/layers/moe_routing.h) ----

// A real forward and backward of the block at hybrid-small's shape supply the routing, the expert
// outputs y, dgates and dxg; `logits` are the router's products that moe_route starts from.
struct Routed {
  Moe m;
  std::vector<float> logits, out0;
  Routed() : m(hybrid_small_moe(), 1), logits(size_t(m.d.M) * m.d.X), out0(m.out.size()) {
    m.forward();
    m.backward(0.01f);
    m.w.router.forward(logits.data(), m.x.data(), m.d.M, false);
    out0 = randn(int64_t(out0.size()), 1.0f, 7);
  }
  void route() {  // restores the logits (M·X floats, 32 KiB, inside the timing), then routes
    std::copy(logits.begin(), logits.end(), m.a.probs);
    trainer::moe_route(m.a, m.d);
  }
};

// Naive routing in double: softmax, experts by decreasing logit (ties to the lower index), gates
// p/Σp; grouping: per-expert counts, rows of an expert in token order, slot_row ↔ row_token. A token
// whose k-th and (k+1)-th logits are within 1e-5 only has its probabilities compared.
bool check_route(Routed& r) {
  const auto& d = r.m.d;
  const auto& a = r.m.a;
  r.route();
  std::vector<int> count(size_t(d.X), 0), next(size_t(d.X));
  for (int t = 0; t < d.M; ++t) {
    const float* z = &r.logits[size_t(t) * d.X];
    const double mx = *std::max_element(z, z + d.X);
    std::vector<double> p(size_t(d.X));
    double sum = 0;
    for (int e = 0; e < d.X; ++e) sum += (p[size_t(e)] = std::exp(z[e] - mx));
    std::vector<int> order(size_t(d.X));
    for (int e = 0; e < d.X; ++e) order[size_t(e)] = e;
    std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return z[i] > z[j]; });
    for (int e = 0; e < d.X; ++e) {
      if (!close(a.probs[size_t(t) * d.X + e], p[size_t(e)] / sum, 1e-5)) return false;
    }
    for (int j = 0; j < d.k; ++j) ++count[size_t(a.topk[t * d.k + j])];
    if (d.k < d.X && z[order[size_t(d.k - 1)]] - z[order[size_t(d.k)]] < 1e-5) continue;
    double S = 0;
    for (int j = 0; j < d.k; ++j) S += p[size_t(order[size_t(j)])];
    for (int j = 0; j < d.k; ++j) {
      if (a.topk[t * d.k + j] != order[size_t(j)] || !close(a.gates[t * d.k + j], p[size_t(order[size_t(j)])] / S, 1e-5))
        return false;
    }
  }
  for (int e = 0, row = 0; e < d.X; row += count[size_t(e)], ++e) {
    if (a.offset[e] != row) return false;
    next[size_t(e)] = row;
  }
  for (int t = 0; t < d.M; ++t) {  // in token order, each choice takes its expert's next row
    for (int j = 0; j < d.k; ++j) {
      const int row = next[size_t(a.topk[t * d.k + j])]++;
      if (a.slot_row[t * d.k + j] != row || a.row_token[row] != t) return false;
    }
  }
  return a.offset[d.X] == d.assignments();
}

// dL/d(aux) for the route backward: large enough that the aux term is of the order of the gates'
// term (about 1e-4·kAuxGrad per logit here), so a wrong aux gradient fails the check.
constexpr float kAuxGrad = 500.0f;

// Each kernel against a naive double loop over tokens and their k choices (rows via slot_row,
// which check_route validated). Kernel 0..4: dispatch, combine, combine backward, route backward,
// dispatch backward.
bool check_kernel(Routed& r, int kernel) {
  auto& m = r.m;
  const auto& d = m.d;
  const auto& a = m.a;
  const auto& s = m.s;
  const size_t D = size_t(d.D), X = size_t(d.X);
  std::vector<float> out = r.out0;
  if (kernel == 0) trainer::moe_dispatch(a, m.x.data(), d);
  if (kernel == 1) trainer::moe_combine(out.data(), a, d);
  if (kernel == 2) trainer::moe_combine_backward(m.dout.data(), a, s, d);
  if (kernel == 3) trainer::moe_route_backward(kAuxGrad, a, s, d);
  if (kernel == 4) trainer::moe_dispatch_backward(out.data(), a, s, d);  // out: dx, starting at out0
  for (int t = 0; t < d.M; t += 3) {
    const float* p = a.probs + size_t(t) * X;
    std::vector<double> want(std::max(D, X), 0.0);
    for (int j = 0; j < d.k; ++j) {
      const size_t row = size_t(a.slot_row[t * d.k + j]), e = size_t(a.topk[t * d.k + j]);
      const double g = a.gates[t * d.k + j];
      double dot = 0;
      for (size_t i = 0; i < D; ++i) {
        const double go = m.dout[size_t(t) * D + i];
        if (kernel == 0 && a.xg[row * D + i] != m.x[size_t(t) * D + i]) return false;
        if (kernel == 1) want[i] += g * a.y[row * D + i];
        if (kernel == 2 && !close(s.dy[row * D + i], g * go, 1e-6)) return false;
        if (kernel == 4) want[i] += s.dxg[row * D + i];
        dot += go * a.y[row * D + i];
      }
      if (kernel == 2 && !close(s.dgates[t * d.k + j], dot, 1e-4)) return false;
      // dz_c += dg_j · ∂(p_e / S)/∂z_c, with ∂p_e/∂z_c = p_e(δ_ec − p_c) and S = Σ_chosen p.
      double S = 0, dS = 0;
      for (int i = 0; i < d.k; ++i) S += p[a.topk[t * d.k + i]];
      for (size_t c = 0; kernel == 3 && c < X; ++c) {
        dS = 0;
        for (int i = 0; i < d.k; ++i) {
          const size_t ei = size_t(a.topk[t * d.k + i]);
          dS += double(p[ei]) * (double(ei == c) - p[c]);
        }
        want[c] += s.dgates[t * d.k + j] * (double(p[e]) * (double(e == c) - p[c]) * S - p[e] * dS) / (S * S);
      }
    }
    for (size_t c = 0; kernel == 3 && c < X; ++c) {  // aux: X/M · Σ_e f_e · ∂p_e/∂z_c
      for (size_t e = 0; e < X; ++e) {
        const double f = double(a.offset[e + 1] - a.offset[e]) / d.assignments();
        want[c] += double(kAuxGrad) * double(X) / d.M * f * p[e] * (double(e == c) - p[c]);
      }
      if (!close(s.dprobs[size_t(t) * X + c], want[c], 1e-5)) return false;
    }
    for (size_t i = 0; (kernel == 1 || kernel == 4) && i < D; ++i) {
      if (!close(out[size_t(t) * D + i], r.out0[size_t(t) * D + i] + want[i], 1e-5)) return false;
    }
  }
  return true;
}

void BM_MoeRoute(benchmark::State& state) {
  Routed r;
  if (!check_route(r)) {
    state.SkipWithError("moe_route differs from the naive softmax/top-k/grouping");
    return;
  }
  for (auto _ : state) r.route();
  const auto& d = r.m.d;
  // Read the logits and write probs (M·X each); write topk, gates, slot_row, row_token (M·k each).
  benchlimits::report_bytes(state, 4.0 * (2.0 * d.M * d.X + 4.0 * d.assignments()));
}

// Kernel as in check_kernel; bytes: every read and write of the tensors it touches, a row of x,
// y, dy or dxg counted each time an assignment reads or writes it (M·k rows), index and gate
// arrays once per assignment.
void BM_MoeMove(benchmark::State& state, int kernel) {
  static const char* const kName[] = {"moe_dispatch", "moe_combine", "moe_combine_backward", "moe_route_backward",
                                      "moe_dispatch_backward"};
  Routed r;
  if (!check_kernel(r, kernel)) {
    state.SkipWithError((std::string(kName[kernel]) + " differs from its naive reference").c_str());
    return;
  }
  auto& m = r.m;
  const auto& d = m.d;
  const double M = d.M, A = d.assignments(), D = d.D, X = d.X;
  for (auto _ : state) {
    if (kernel == 0) trainer::moe_dispatch(m.a, m.x.data(), d);
    if (kernel == 1) trainer::moe_combine(m.out.data(), m.a, d);
    if (kernel == 2) trainer::moe_combine_backward(m.dout.data(), m.a, m.s, d);
    if (kernel == 3) trainer::moe_route_backward(kAuxGrad, m.a, m.s, d);
    if (kernel == 4) trainer::moe_dispatch_backward(m.dx.data(), m.a, m.s, d);
    benchmark::ClobberMemory();
  }
  const double bytes[] = {
      4.0 * (2 * A * D + A),          // dispatch: read x rows, write xg; row_token
      4.0 * (2 * M * D + A * D + 2 * A),  // combine: read and write out, read y; gates, slot_row
      4.0 * (M * D + 2 * A * D + 3 * A),  // combine bwd: read dout and y, write dy; gates, slot_row, dgates
      4.0 * (2 * M * X + 3 * A),      // route bwd: read probs, write dprobs; topk, gates, dgates
      4.0 * (2 * M * D + A * D + A),  // dispatch bwd: read and write dx, read dxg; slot_row
  };
  benchlimits::report_bytes(state, bytes[kernel]);
}
void BM_MoeDispatch(benchmark::State& state) { BM_MoeMove(state, 0); }
void BM_MoeCombine(benchmark::State& state) { BM_MoeMove(state, 1); }
void BM_MoeCombineBackward(benchmark::State& state) { BM_MoeMove(state, 2); }
void BM_MoeRouteBackward(benchmark::State& state) { BM_MoeMove(state, 3); }
void BM_MoeDispatchBackward(benchmark::State& state) { BM_MoeMove(state, 4); }

}  // namespace

BENCHMARK_CAPTURE(BM_MoeBlock, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeBlock, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeExperts, fwd, false)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_MoeExperts, bwd, true)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeRoute)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeDispatch)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeCombine)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeCombineBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeRouteBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MoeDispatchBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) { return benchlimits::run_main(argc, argv); }
