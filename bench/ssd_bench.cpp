// Microbenchmarks of the Mamba-2 chunked scan (trainer/kernels/ssd.h) against nightshift's Mamba-1
// selective scan (trainer/kernels/ssm.h) at the same state size: B = 4 rows of T = 256 tokens, an
// inner width of 768 (Mamba-2: 12 heads of 64 sharing B and C in one group, chunks of 64) and state
// N = 16 or 64, so both update B·T·768·N state values per call. Reports that rate (Gupd/s, the
// figure docs/model.md's two scans are compared by), forward and backward. Each case is checked
// before it is timed: the chunked forward against the step-by-step reference, the Mamba-1 scan
// against its reference.
//
//   build-dir/bench/ssd_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "bench/bench_data.h"
#include "trainer/kernels/ssd.h"
#include "trainer/kernels/ssm.h"

namespace {

using benchdata::close;
using benchdata::randn;

constexpr int kB = 4, kT = 256, kDi = 768, kP = 64, kQ = 64;

void report_state_updates(benchmark::State& state, int N) {
  state.counters["Gupd/s"] =
      benchmark::Counter(double(kB) * kT * kDi * N / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Mamba-2: xBC rows (x | B | C), dt per head, A_log and D per head.
struct Ssd {
  trainer::SsdDims d;
  std::vector<float> xbc, dt, A_log, D, y, dy, scratch, dxbc, ddt, dA, dD;
  explicit Ssd(int N) {
    d = {kB, kT, kDi / kP, kP, 1, N, kQ, kDi + 2 * N};
    const int64_t rows = int64_t(kB) * kT;
    xbc = randn(rows * d.ld, 1.0f, 1);
    dt = randn(rows * d.H, 1.0f, 2);
    for (auto& x : dt) x = 0.001f + 0.05f * std::fabs(x);
    A_log.assign(d.H, std::log(4.0f));
    D = randn(d.H, 1.0f, 4);
    y.assign(size_t(rows) * kDi, 0.0f);
    dy = randn(rows * kDi, 1.0f, 5);
    scratch.assign(trainer::ssd_scan_backward_scratch_floats(d), 0.0f);
    dxbc.assign(xbc.size(), 0.0f);
    ddt.assign(dt.size(), 0.0f);
    dA.assign(d.H, 0.0f);
    dD.assign(d.H, 0.0f);
  }
  void forward(float* out, bool reference) {
    (reference ? trainer::ssd_scan_forward_reference : trainer::ssd_scan_forward)(
        out, nullptr, xbc.data(), xbc.data() + kDi, xbc.data() + kDi + d.N, dt.data(), A_log.data(), D.data(), nullptr,
        d, nullptr);
  }
  void backward() {
    trainer::ssd_scan_backward(dxbc.data(), dxbc.data() + kDi, dxbc.data() + kDi + d.N, ddt.data(), dA.data(),
                               dD.data(), dy.data(), xbc.data(), xbc.data() + kDi, xbc.data() + kDi + d.N, dt.data(),
                               A_log.data(), D.data(), scratch.data(), d, nullptr);
  }
};

// Mamba-1 at the same inner width and state: u, dt per channel, A_log (Di, N), B and C per token.
struct Ssm {
  int N;
  std::vector<float> u, dt, A_log, bc, D, y, dy, scratch, du, ddt, dA, dbc, dD;
  explicit Ssm(int n) : N(n) {
    const int64_t rows = int64_t(kB) * kT;
    u = randn(rows * kDi, 1.0f, 1);
    dt = randn(rows * kDi, 1.0f, 2);
    for (auto& x : dt) x = 0.001f + 0.05f * std::fabs(x);
    A_log.resize(size_t(kDi) * N);
    for (int c = 0; c < kDi; ++c)
      for (int k = 0; k < N; ++k) A_log[size_t(c) * N + k] = std::log(float(k + 1));
    bc = randn(rows * 2 * N, 1.0f, 3);
    D = randn(kDi, 1.0f, 4);
    y.assign(u.size(), 0.0f);
    dy = randn(rows * kDi, 1.0f, 5);
    scratch.assign(trainer::ssm_scan_backward_scratch_floats(kB, kT, kDi, N), 0.0f);
    du.assign(u.size(), 0.0f);
    ddt.assign(dt.size(), 0.0f);
    dA.assign(A_log.size(), 0.0f);
    dbc.assign(bc.size(), 0.0f);
    dD.assign(D.size(), 0.0f);
  }
  void forward(float* out, bool reference) {
    (reference ? trainer::ssm_scan_forward_reference : trainer::ssm_scan_forward)(
        out, nullptr, u.data(), dt.data(), A_log.data(), bc.data(), bc.data() + N, 2 * N, D.data(), nullptr, kB, kT,
        kDi, N, nullptr);
  }
  void backward() {
    trainer::ssm_scan_backward(du.data(), ddt.data(), dA.data(), dbc.data(), dbc.data() + N, dD.data(), dy.data(),
                               u.data(), dt.data(), A_log.data(), bc.data(), bc.data() + N, 2 * N, D.data(),
                               scratch.data(), kB, kT, kDi, N);
  }
};

template <class S>
bool forward_matches_reference(S& s) {
  std::vector<float> ref(s.y.size());
  s.forward(s.y.data(), false);
  s.forward(ref.data(), true);
  for (size_t i = 0; i < ref.size(); i += 7)
    if (!close(s.y[i], ref[i], 1e-3)) return false;
  return true;
}

template <class S>
void BM_Forward(benchmark::State& state) {
  const int N = int(state.range(0));
  S s(N);
  if (!forward_matches_reference(s)) {
    state.SkipWithError("the scan differs from its step-by-step reference");
    return;
  }
  for (auto _ : state) s.forward(s.y.data(), false);
  report_state_updates(state, N);
}

template <class S>
void BM_Backward(benchmark::State& state) {
  const int N = int(state.range(0));
  S s(N);
  for (auto _ : state) s.backward();
  report_state_updates(state, N);
}

BENCHMARK(BM_Forward<Ssd>)
    ->Name("Mamba2ChunkedScanForward")
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Forward<Ssm>)->Name("Mamba1ScanForward")->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Backward<Ssd>)
    ->Name("Mamba2ChunkedScanBackward")
    ->Arg(16)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Backward<Ssm>)->Name("Mamba1ScanBackward")->Arg(16)->Arg(64)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
