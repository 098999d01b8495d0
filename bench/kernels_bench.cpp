// Microbenchmarks of the engine's dense ops (trainer/kernels/kernels.h, trainer/optimizer.h) on gpt-small's
// training shapes (B=4, T=256: N=1024 rows, C=384, F=1536, byte vocabulary): the linear forward and
// both backward products, RMSNorm, SwiGLU, cross-entropy and AdamW. Each case is checked against a
// naive loop before it is timed (a mismatch skips the case with an error), and reports GFLOP/s
// against the measured sgemm peak or GB/s against the measured triad bandwidth (bench/bench_limits.h).
//
//   build-dir/bench/kernels_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_limits.h"
#include "bench/bench_simd.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layout.h"
#include "trainer/model.h"
#include "trainer/optimizer.h"

namespace {

constexpr int kN = 1024, kC = 384, kF = 1536, kV = 256;

using benchdata::close;
using benchdata::randn;

// ---- linear: out (N, O) = inp (N, I) · W (O, I)ᵀ and its two backward products ----

enum class Product { kForward, kInputGrad, kWeightGrad };

void BM_Linear(benchmark::State& state, Product which, int I, int O) {
  const int N = kN;
  const auto x = randn(int64_t(N) * I, 1.0f, 1), w = randn(int64_t(O) * I, 0.05f, 2), dy = randn(int64_t(N) * O, 1.0f, 3);
  std::vector<float> y(size_t(N) * O), dx(size_t(N) * I), dw(size_t(O) * I);
  auto run = [&] {
    if (which == Product::kForward) trainer::matmul_forward(y.data(), x.data(), w.data(), N, I, O, false);
    if (which == Product::kInputGrad) trainer::matmul_backward(dx.data(), nullptr, dy.data(), x.data(), w.data(), N, I, O);
    if (which == Product::kWeightGrad) trainer::matmul_backward(nullptr, dw.data(), dy.data(), x.data(), w.data(), N, I, O);
  };
  run();
  // Check 64 sampled entries of the result against a dot product in double.
  std::mt19937 rng(7);
  for (int s = 0; s < 64; ++s) {
    double want = 0, got = 0;
    if (which == Product::kForward) {
      const int n = int(rng() % N), o = int(rng() % O);
      for (int i = 0; i < I; ++i) want += double(x[size_t(n) * I + i]) * w[size_t(o) * I + i];
      got = y[size_t(n) * O + o];
    } else if (which == Product::kInputGrad) {
      const int n = int(rng() % N), i = int(rng() % I);
      for (int o = 0; o < O; ++o) want += double(dy[size_t(n) * O + o]) * w[size_t(o) * I + i];
      got = dx[size_t(n) * I + i];
    } else {
      const int o = int(rng() % O), i = int(rng() % I);
      for (int n = 0; n < N; ++n) want += double(dy[size_t(n) * O + o]) * x[size_t(n) * I + i];
      got = dw[size_t(o) * I + i];
    }
    if (!close(got, want, 1e-3)) {
      state.SkipWithError("result differs from the naive product");
      return;
    }
  }
  for (auto _ : state) run();
  benchlimits::report_flops(state, 2.0 * N * I * O);
}

// ---- RMSNorm over (N, C) ----

void BM_RmsnormForward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const auto x = randn(int64_t(kN) * kC, 1.0f, 1), w = randn(kC, 1.0f, 2);
  std::vector<float> y(x.size()), rstd(kN);
  trainer::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), kN, kC, 1e-5f);
  for (int n = 0; n < kN; n += 97) {
    double ss = 0;
    for (int c = 0; c < kC; ++c) ss += double(x[size_t(n) * kC + c]) * x[size_t(n) * kC + c];
    const double r = 1.0 / std::sqrt(ss / kC + 1e-5);
    for (int c = 0; c < kC; c += 13) {
      if (!close(y[size_t(n) * kC + c], x[size_t(n) * kC + c] * r * w[c], 1e-4)) {
        state.SkipWithError("rmsnorm_forward differs from the naive formula");
        return;
      }
    }
  }
  for (auto _ : state) trainer::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), kN, kC, 1e-5f);
  benchlimits::report_bytes(state, 2.0 * 4 * kN * kC);  // read x, write y
}

void BM_RmsnormBackward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const auto x = randn(int64_t(kN) * kC, 1.0f, 1), w = randn(kC, 1.0f, 2), dy = randn(int64_t(kN) * kC, 1.0f, 3);
  std::vector<float> y(x.size()), rstd(kN), dx(x.size(), 0.0f), dw(kC, 0.0f);
  trainer::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), kN, kC, 1e-5f);
  trainer::rmsnorm_backward(dx.data(), dw.data(), dy.data(), x.data(), rstd.data(), w.data(), kN, kC);
  // Naive: dx_j = r g_j - r³ x_j Σ(g x) / C with g = dy * w.
  for (int n = 0; n < kN; n += 101) {
    const float* xr = &x[size_t(n) * kC];
    const float* gr = &dy[size_t(n) * kC];
    double ss = 0, gx = 0;
    for (int c = 0; c < kC; ++c) ss += double(xr[c]) * xr[c];
    const double r = 1.0 / std::sqrt(ss / kC + 1e-5);
    for (int c = 0; c < kC; ++c) gx += double(gr[c]) * w[c] * xr[c];
    for (int c = 0; c < kC; c += 11) {
      const double want = r * gr[c] * w[c] - r * r * r * xr[c] * gx / kC;
      if (!close(dx[size_t(n) * kC + c], want, 1e-3)) {
        state.SkipWithError("rmsnorm_backward differs from the naive formula");
        return;
      }
    }
  }
  for (auto _ : state) {
    trainer::rmsnorm_backward(dx.data(), dw.data(), dy.data(), x.data(), rstd.data(), w.data(), kN, kC);
  }
  benchlimits::report_bytes(state, 4.0 * 4 * kN * kC);  // read x, dy, dx; write dx
}

// ---- SwiGLU over N·F values ----

float silu(float g) { return g / (1.0f + std::exp(-g)); }

void BM_SwigluForward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const int64_t n = int64_t(kN) * kF;
  const auto g = randn(n, 1.0f, 1), u = randn(n, 1.0f, 2);
  std::vector<float> h(static_cast<size_t>(n));
  trainer::swiglu_forward(h.data(), g.data(), u.data(), n);
  for (int64_t i = 0; i < n; i += 977) {
    if (!close(h[size_t(i)], silu(g[size_t(i)]) * u[size_t(i)], 1e-4)) {
      state.SkipWithError("swiglu_forward differs from silu(g)*u");
      return;
    }
  }
  for (auto _ : state) trainer::swiglu_forward(h.data(), g.data(), u.data(), n);
  benchlimits::report_bytes(state, 3.0 * 4 * n);
}

void BM_SwigluBackward(benchmark::State& state, trainer::SimdLevel level) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const int64_t n = int64_t(kN) * kF;
  const auto g = randn(n, 1.0f, 1), u = randn(n, 1.0f, 2), dh = randn(n, 1.0f, 3);
  std::vector<float> dg(size_t(n), 0.0f), du(size_t(n), 0.0f);
  trainer::swiglu_backward(dg.data(), du.data(), dh.data(), g.data(), u.data(), n);
  for (int64_t i = 0; i < n; i += 977) {
    const double x = g[size_t(i)], s = 1.0 / (1.0 + std::exp(-x));
    const double want_du = dh[size_t(i)] * x * s;
    const double want_dg = dh[size_t(i)] * u[size_t(i)] * s * (1.0 + x * (1.0 - s));
    if (!close(du[size_t(i)], want_du, 1e-4) || !close(dg[size_t(i)], want_dg, 1e-4)) {
      state.SkipWithError("swiglu_backward differs from the analytic derivative");
      return;
    }
  }
  for (auto _ : state) trainer::swiglu_backward(dg.data(), du.data(), dh.data(), g.data(), u.data(), n);
  benchlimits::report_bytes(state, 7.0 * 4 * n);  // read g, u, dh, dg, du; write dg, du
}

// ---- cross-entropy, forward then backward in place, over (N, V) logits: the byte vocabulary over
// gpt-small's rows, and a chunk of the LM head's rows over SmolLM2's 49,152 tokens ----

void BM_CrossEntropy(benchmark::State& state, trainer::SimdLevel level, int N, int V) {
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  const auto logits0 = randn(int64_t(N) * V, 2.0f, 1);
  std::vector<int32_t> targets(N);
  for (int n = 0; n < N; ++n) targets[size_t(n)] = (n * 37) % V;
  std::vector<float> logits = logits0, lse(N);
  const double loss = trainer::crossentropy_forward(lse.data(), logits.data(), targets.data(), N, V);
  double want = 0;
  for (int n = 0; n < N; ++n) {
    const float* row = &logits0[size_t(n) * V];
    double mx = row[0], s = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, double(row[v]));
    for (int v = 0; v < V; ++v) s += std::exp(row[v] - mx);
    want += mx + std::log(s) - row[targets[size_t(n)]];
  }
  trainer::crossentropy_backward_inplace(logits.data(), lse.data(), targets.data(), N, V, 1.0f);
  double row_sum = 0;
  for (int v = 0; v < V; ++v) row_sum += logits[size_t(v)];
  if (!close(loss, want, 1e-4) || std::fabs(row_sum) > 1e-4) {
    state.SkipWithError("cross-entropy differs from the naive log-softmax");
    return;
  }
  for (auto _ : state) {
    state.PauseTiming();
    logits = logits0;
    state.ResumeTiming();
    benchmark::DoNotOptimize(trainer::crossentropy_forward(lse.data(), logits.data(), targets.data(), N, V));
    trainer::crossentropy_backward_inplace(logits.data(), lse.data(), targets.data(), N, V, 1.0f);
  }
  benchlimits::report_bytes(state, 3.0 * 4 * N * V);  // read (fwd), read + write (bwd)
}

// ---- AdamW over P parameters (one tensor): reads w, g, m, v and writes w, m, v ----

void BM_AdamW(benchmark::State& state) {
  const int64_t P = state.range(0);
  trainer::TensorSpec spec;
  spec.name = "bench.weight";
  spec.shape = {P};
  spec.decay = true;
  auto w = randn(P, 0.02f, 1), g = randn(P, 1e-3f, 2);
  std::vector<float> m(size_t(P), 0.0f), v(size_t(P), 0.0f);
  trainer::ParamRef ref{&spec, w.data(), g.data(), m.data(), v.data(), P};
  const trainer::AdamWConfig cfg;
  const float lr = 1e-3f;
  // Check one step from zero moments on sampled entries: the update is w(1 - lr wd) - lr g/(|g| + eps).
  const auto w0 = w;
  trainer::adamw_update({ref}, cfg, lr, 1, 1.0f);
  for (int64_t i = 0; i < P; i += 99991) {
    const double gi = g[size_t(i)];
    const double want = w0[size_t(i)] * (1.0 - lr * cfg.weight_decay) - lr * gi / (std::fabs(gi) + cfg.eps);
    if (!close(w[size_t(i)], want, 1e-5)) {
      state.SkipWithError("adamw_update differs from the AdamW formula");
      return;
    }
  }
  int64_t t = 2;
  for (auto _ : state) trainer::adamw_update({ref}, cfg, lr, t++, 1.0f);
  benchlimits::report_bytes(state, 7.0 * 4 * double(P));
}

}  // namespace

BENCHMARK_CAPTURE(BM_Linear, fwd_qkvo_384x384, Product::kForward, kC, kC)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fwd_up_1536x384, Product::kForward, kC, kF)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fwd_down_384x1536, Product::kForward, kF, kC)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, dinp_up_1536x384, Product::kInputGrad, kC, kF)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, dweight_up_1536x384, Product::kWeightGrad, kC, kF)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Linear, fwd_lmhead_256x384, Product::kForward, kC, kV)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsnormForward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsnormForward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsnormBackward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsnormBackward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SwigluForward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SwigluForward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SwigluBackward, avx2, trainer::SimdLevel::kAvx2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_SwigluBackward, avx512, trainer::SimdLevel::kAvx512)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_CrossEntropy, byte_vocab_avx2, trainer::SimdLevel::kAvx2, kN, kV)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_CrossEntropy, byte_vocab_avx512, trainer::SimdLevel::kAvx512, kN, kV)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_CrossEntropy, smollm2_vocab_chunk_avx2, trainer::SimdLevel::kAvx2, 256, 49152)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_CrossEntropy, smollm2_vocab_chunk_avx512, trainer::SimdLevel::kAvx512, 256, 49152)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_AdamW)->Arg(16700000)->Unit(benchmark::kMillisecond)->UseRealTime();

int main(int argc, char** argv) { return benchlimits::run_main(argc, argv); }
