// Microbenchmarks of the sequence-mixing kernels: causal attention forward and backward, full (gpt-small:
// B=4, T=256, 6 heads of 64) and windowed (hybrid-small's window of 128), and the Mamba-1 selective
// scan and causal depthwise conv1d (+ SiLU), forward and backward (hybrid-small: B=4, T=256, inner
// width 768, state 16, kernel 4, conv input rows strided inside in_proj's output as the block has
// them). Each case is checked before it is timed: attention against a naive double-precision
// softmax(QKᵀ)V and its hand-derived gradients on one (batch, head); the scan forward against
// ssm_scan_forward_reference, its backward against a central finite difference of the reference
// along a random direction; the conv against naive double loops.
// Attention reports model GFLOP/s (only the causal/windowed products count, as in MFU) against the
// sgemm peak; the scan and the conv report GB/s of the tensors they must read and write against the
// triad bandwidth, the scan also its rate of state updates (one exp each). Each case runs at the
// AVX2 and the AVX-512 level of the engine's own loops (softmaxes, scan; bench/bench_simd.h).
//
//   build-dir/bench/attention_ssm_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_limits.h"
#include "bench/bench_simd.h"
#include "trainer/kernels/kernels.h"
#include "trainer/kernels/ssm.h"

namespace {

using benchdata::close;
using benchdata::randn;

// ---- attention ----

constexpr int kB = 4, kT = 256, kH = 6, kDh = 64;

// Mean number of keys a query sees (the causal / windowed context), as the model-FLOPs count uses.
double mean_context(int T, int window) {
  double s = 0;
  for (int t = 0; t < T; ++t) s += window > 0 ? std::min(t + 1, window) : t + 1;
  return s / T;
}

struct AttnData {
  std::vector<float> q, k, v, dout, out, probs;
  AttnData()
      : q(randn(int64_t(kB) * kT * kH * kDh, 1.0f, 1)), k(randn(int64_t(kB) * kT * kH * kDh, 1.0f, 2)),
        v(randn(int64_t(kB) * kT * kH * kDh, 1.0f, 3)), dout(randn(int64_t(kB) * kT * kH * kDh, 1.0f, 4)),
        out(q.size()), probs(size_t(kB) * kH * kT * kT) {}
};

// Naive forward and backward of head h of batch b in double; compares out, dq, dk, dv.
bool check_attention(const AttnData& d, const std::vector<float>& dq, const std::vector<float>& dk,
                     const std::vector<float>& dv, int b, int h, int window) {
  const int ld = kH * kDh;
  auto at = [&](const std::vector<float>& x, int t, int j) { return double(x[(size_t(b) * kT + t) * ld + h * kDh + j]); };
  const double scale = 1.0 / std::sqrt(double(kDh));
  std::vector<double> P(size_t(kT) * kT, 0.0), dS(size_t(kT) * kT, 0.0);
  for (int t = 0; t < kT; ++t) {
    const int lo = window > 0 ? std::max(0, t - window + 1) : 0;
    double mx = -1e300;
    for (int s = lo; s <= t; ++s) {
      double dot = 0;
      for (int j = 0; j < kDh; ++j) dot += at(d.q, t, j) * at(d.k, s, j);
      P[size_t(t) * kT + s] = dot * scale;
      mx = std::max(mx, dot * scale);
    }
    double sum = 0;
    for (int s = lo; s <= t; ++s) sum += (P[size_t(t) * kT + s] = std::exp(P[size_t(t) * kT + s] - mx));
    for (int s = lo; s <= t; ++s) P[size_t(t) * kT + s] /= sum;
    // out and dS = P ⊙ (dP − rowsum(P ⊙ dP)) · scale with dP = dO · Vᵀ.
    double rowdot = 0;
    std::vector<double> dP(size_t(kT), 0.0);
    for (int s = lo; s <= t; ++s) {
      for (int j = 0; j < kDh; ++j) dP[size_t(s)] += at(d.dout, t, j) * at(d.v, s, j);
      rowdot += P[size_t(t) * kT + s] * dP[size_t(s)];
    }
    for (int s = lo; s <= t; ++s) dS[size_t(t) * kT + s] = P[size_t(t) * kT + s] * (dP[size_t(s)] - rowdot) * scale;
    for (int j = 0; j < kDh; ++j) {
      double o = 0, gq = 0;
      for (int s = lo; s <= t; ++s) {
        o += P[size_t(t) * kT + s] * at(d.v, s, j);
        gq += dS[size_t(t) * kT + s] * at(d.k, s, j);
      }
      if (!close(at(d.out, t, j), o, 1e-3) || !close(at(dq, t, j), gq, 1e-3)) return false;
    }
  }
  for (int s = 0; s < kT; ++s) {
    for (int j = 0; j < kDh; ++j) {
      double gk = 0, gv = 0;
      for (int t = s; t < kT; ++t) {
        gk += dS[size_t(t) * kT + s] * at(d.q, t, j);
        gv += P[size_t(t) * kT + s] * at(d.dout, t, j);
      }
      if (!close(at(dk, s, j), gk, 1e-3) || !close(at(dv, s, j), gv, 1e-3)) return false;
    }
  }
  return true;
}

void BM_Attention(benchmark::State& state, bool backward, int window, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  AttnData d;
  const int threads = omp_get_max_threads();
  std::vector<float> dq(d.q.size(), 0.0f), dk(d.k.size(), 0.0f), dv(d.v.size(), 0.0f);
  std::vector<float> scratch(size_t(threads) * kT * kT);
  trainer::attention_forward(d.out.data(), d.probs.data(), d.q.data(), d.k.data(), d.v.data(), kB, kT, kH, kH, kDh,
                             window);
  const std::vector<float> probs = d.probs;
  trainer::attention_backward(dq.data(), dk.data(), dv.data(), d.probs.data(), scratch.data(), threads, d.dout.data(),
                              d.q.data(), d.k.data(), d.v.data(), kB, kT, kH, kH, kDh, window);
  if (!check_attention(d, dq, dk, dv, 1, 3, window)) {
    state.SkipWithError("attention differs from the naive double-precision reference");
    return;
  }
  for (auto _ : state) {
    if (!backward) {
      trainer::attention_forward(d.out.data(), d.probs.data(), d.q.data(), d.k.data(), d.v.data(), kB, kT, kH, kH,
                                 kDh, window);
    } else {
      state.PauseTiming();
      std::copy(probs.begin(), probs.end(), d.probs.begin());
      state.ResumeTiming();
      trainer::attention_backward(dq.data(), dk.data(), dv.data(), d.probs.data(), scratch.data(), threads,
                                  d.dout.data(), d.q.data(), d.k.data(), d.v.data(), kB, kT, kH, kH, kDh, window);
    }
  }
  // Model FLOPs: QKᵀ and PV over the visible keys (2 products x 2 flops) forward, twice that backward.
  const double fwd = 4.0 * kB * kT * kH * kDh * mean_context(kT, window);
  benchlimits::report_flops(state, backward ? 2 * fwd : fwd);
}

// ---- selective scan ----

constexpr int kSB = 4, kST = 256, kDi = 768, kN = 16;

struct ScanData {
  int B, T, Di, N;
  std::vector<float> u, dt, A_log, bc, D;  // bc: (B, T, 2N), Bm then Cm
  ScanData(int b, int t, int di, int n) : B(b), T(t), Di(di), N(n) {
    u = randn(int64_t(B) * T * Di, 1.0f, 1);
    dt = randn(int64_t(B) * T * Di, 1.0f, 2);
    for (auto& x : dt) x = 0.001f + 0.05f * std::fabs(x);  // softplus output range
    A_log.resize(size_t(Di) * N);
    for (int d = 0; d < Di; ++d) {
      for (int n = 0; n < N; ++n) A_log[size_t(d) * N + n] = std::log(float(n + 1));
    }
    bc = randn(int64_t(B) * T * 2 * N, 1.0f, 3);
    D = randn(Di, 1.0f, 4);
  }
  void forward(float* y, bool reference) const {
    auto f = reference ? trainer::ssm_scan_forward_reference : trainer::ssm_scan_forward;
    f(y, nullptr, u.data(), dt.data(), A_log.data(), bc.data(), bc.data() + N, 2 * N, D.data(), nullptr, B, T, Di, N,
      nullptr);  // one document per row (a function pointer takes no default arguments)
  }
  double bytes_forward() const { return 4.0 * B * T * (3.0 * Di + 2.0 * N); }
  // Reads dy, u, dt, Bm, Cm; reads and writes du, ddt, dBm, dCm.
  double bytes_backward() const { return 4.0 * B * T * (7.0 * Di + 6.0 * N); }
};

// State updates per second (B·T·Di·N per call, in G/s): each is one exp(Δ·A) and a few FMAs, so
// this rate, not the bytes moved, is what bounds the scan on a CPU (BENCHMARKS.md works it out).
void report_state_updates(benchmark::State& state, const ScanData& s) {
  state.counters["Gupd/s"] = benchmark::Counter(double(s.B) * s.T * s.Di * s.N / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// L = Σ y·w; dL/dx·r from the kernel against (L(x + εr) − L(x − εr)) / 2ε of the reference, for x = u, dt, bc.
bool check_scan_backward() {
  ScanData s(2, 24, 8, 4);
  const auto w = randn(int64_t(s.B) * s.T * s.Di, 1.0f, 9);
  std::vector<float> du(s.u.size(), 0.0f), ddt(s.dt.size(), 0.0f), dA(s.A_log.size(), 0.0f), dbc(s.bc.size(), 0.0f),
      dD(s.D.size(), 0.0f), scratch(trainer::ssm_scan_backward_scratch_floats(s.B, s.T, s.Di, s.N));
  trainer::ssm_scan_backward(du.data(), ddt.data(), dA.data(), dbc.data(), dbc.data() + s.N, dD.data(), w.data(),
                             s.u.data(), s.dt.data(), s.A_log.data(), s.bc.data(), s.bc.data() + s.N, 2 * s.N,
                             s.D.data(), scratch.data(), s.B, s.T, s.Di, s.N);
  auto loss = [&](const ScanData& x) {
    std::vector<float> y(w.size());
    x.forward(y.data(), true);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += double(y[i]) * w[i];
    return l;
  };
  const std::pair<std::vector<float> ScanData::*, const std::vector<float>*> inputs[] = {
      {&ScanData::u, &du}, {&ScanData::dt, &ddt}, {&ScanData::bc, &dbc}};
  uint32_t seed = 20;
  for (const auto& [member, grad] : inputs) {
    const auto r = randn(int64_t((s.*member).size()), 1.0f, seed++);
    const float eps = member == &ScanData::dt ? 1e-3f : 1e-2f;
    ScanData plus = s, minus = s;
    for (size_t i = 0; i < r.size(); ++i) {
      (plus.*member)[i] += eps * r[i];
      (minus.*member)[i] -= eps * r[i];
    }
    const double fd = (loss(plus) - loss(minus)) / (2.0 * eps);
    double an = 0;
    for (size_t i = 0; i < r.size(); ++i) an += double((*grad)[i]) * r[i];
    if (!close(an, fd, 2e-2)) return false;
  }
  return true;
}

void BM_ScanForward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const ScanData s(kSB, kST, kDi, kN);
  std::vector<float> y(s.u.size()), ref(s.u.size());
  s.forward(y.data(), false);
  s.forward(ref.data(), true);
  for (size_t i = 0; i < y.size(); i += 7) {
    if (!close(y[i], ref[i], 1e-3)) {
      state.SkipWithError("ssm_scan_forward differs from ssm_scan_forward_reference");
      return;
    }
  }
  for (auto _ : state) s.forward(y.data(), false);
  benchlimits::report_bytes(state, s.bytes_forward());
  report_state_updates(state, s);
}

void BM_ScanBackward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  if (!check_scan_backward()) {
    state.SkipWithError("ssm_scan_backward differs from a finite difference of the reference scan");
    return;
  }
  const ScanData s(kSB, kST, kDi, kN);
  const auto dy = randn(int64_t(s.u.size()), 1.0f, 5);
  std::vector<float> du(s.u.size(), 0.0f), ddt(s.dt.size(), 0.0f), dA(s.A_log.size(), 0.0f), dbc(s.bc.size(), 0.0f),
      dD(s.D.size(), 0.0f), scratch(trainer::ssm_scan_backward_scratch_floats(s.B, s.T, s.Di, s.N));
  for (auto _ : state) {
    trainer::ssm_scan_backward(du.data(), ddt.data(), dA.data(), dbc.data(), dbc.data() + s.N, dD.data(), dy.data(),
                               s.u.data(), s.dt.data(), s.A_log.data(), s.bc.data(), s.bc.data() + s.N, 2 * s.N,
                               s.D.data(), scratch.data(), s.B, s.T, s.Di, s.N);
  }
  benchlimits::report_bytes(state, s.bytes_backward());
  report_state_updates(state, s);
}

// ---- causal depthwise conv1d of the SSM block ----

// hybrid-small: inner width kDi (the scan's), kernel 4, input rows strided inside in_proj's output.
constexpr int kK = 4, kLdx = 2 * kDi;

double silu(double x) { return x / (1.0 + std::exp(-x)); }

struct Conv {
  std::vector<float> x, w, bias, pre, act, dact, dx, dw, db;
  Conv()
      : x(randn(int64_t(kSB) * kST * kLdx, 1.0f, 1)), w(randn(int64_t(kDi) * kK, 0.5f, 2)), bias(randn(kDi, 0.1f, 3)),
        pre(size_t(kSB) * kST * kDi), act(pre.size()), dact(randn(int64_t(pre.size()), 1.0f, 4)),
        dx(x.size(), 0.0f), dw(w.size(), 0.0f), db(bias.size(), 0.0f) {}
  void forward() {
    trainer::ssm_conv_forward(pre.data(), act.data(), x.data(), kLdx, nullptr, w.data(), bias.data(), kSB, kST, kDi, kK);
  }
  void backward(float* g) {
    trainer::ssm_conv_backward(dx.data(), kLdx, dw.data(), db.data(), g, pre.data(), x.data(), kLdx, w.data(), kSB, kST,
                               kDi, kK);
  }
  double xin(int b, int t, int d) const { return t < 0 ? 0.0 : double(x[(size_t(b) * kST + t) * kLdx + d]); }
  double naive_pre(int b, int t, int d) const {
    double p = bias[size_t(d)];
    for (int j = 0; j < kK; ++j) p += double(w[size_t(d) * kK + j]) * xin(b, t - kK + 1 + j, d);
    return p;
  }
};

bool check_conv_forward(Conv& c) {
  c.forward();
  for (int b = 0; b < kSB; ++b) {
    for (int t = 0; t < kST; ++t) {
      for (int d = 0; d < kDi; d += 7) {
        const double p = c.naive_pre(b, t, d);
        const size_t i = (size_t(b) * kST + t) * kDi + d;
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
    std::vector<double> dpre(size_t(kSB) * kST), dw(size_t(kK), 0.0);
    double db = 0;
    for (int b = 0; b < kSB; ++b) {
      for (int t = 0; t < kST; ++t) {
        const double p = c.naive_pre(b, t, d), s = 1.0 / (1.0 + std::exp(-p));
        const double gp = c.dact[(size_t(b) * kST + t) * kDi + d] * s * (1.0 + p * (1.0 - s));
        dpre[size_t(b) * kST + t] = gp;
        db += gp;
        for (int j = 0; j < kK; ++j) dw[size_t(j)] += gp * c.xin(b, t - kK + 1 + j, d);
      }
    }
    for (int b = 0; b < kSB; ++b) {
      for (int s = 0; s < kST; ++s) {
        double want = 0;
        for (int j = 0; j < kK; ++j) {
          if (s + kK - 1 - j < kST) want += double(c.w[size_t(d) * kK + j]) * dpre[size_t(b) * kST + s + kK - 1 - j];
        }
        if (!close(c.dx[(size_t(b) * kST + s) * kLdx + d], want, 1e-3)) return false;
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
  benchlimits::report_bytes(state, 4.0 * kSB * kST * kDi * 3);  // read x, write pre and act
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
  benchlimits::report_bytes(state, 4.0 * kSB * kST * kDi * 6);  // read dact, pre, x, dx; write d(pre), dx
}

}  // namespace

BENCHMARK_CAPTURE(BM_Attention, fwd_full_avx2, false, 0, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, fwd_full_avx512, false, 0, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, bwd_full_avx2, true, 0, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, bwd_full_avx512, true, 0, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, fwd_window128_avx2, false, 128, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, fwd_window128_avx512, false, 128, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, bwd_window128_avx2, true, 128, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Attention, bwd_window128_avx512, true, 128, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScanForward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScanForward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScanBackward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_ScanBackward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ConvForward)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_ConvBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

int main(int argc, char** argv) { return benchlimits::run_main(argc, argv); }
