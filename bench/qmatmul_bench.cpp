// Dequant-matmul microbenchmark: NF4 / NF4+double-quant / Q8 / F16 forward (y = x·Wᵀ) and input
// gradient (dx += dy·W) against plain cblas_sgemm on fp32 weights, on gpt-small's linear shapes and
// hybrid-small's other ones (Mamba in/x/dt/out projections, an expert at its average routed share) at
// B·T = 2048 tokens. Every case is validated against sgemm on the dequantized weights before it is
// timed. After the table, prints each quantized time as a ratio of the fp32 time (aim: <= 1.2x).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_simd.h"
#include "trainer/quant/qmatmul.h"

namespace {

using trainer::QuantFormat;
using trainer::QuantLayout;

constexpr int64_t kTokens = 2048;

struct Shape {
  const char* name;
  int64_t out, in;
  int64_t tokens;  // rows of activations
};
// gpt-small (d_model 384, d_ff 1536): attention projections, MLP up/gate and down. hybrid-small
// (d_model 384, d_inner 768, state 16, dt rank 24; 8 experts of width 384, top-2): its in_proj has the
// up shape; the expert matrices are 384x384 at 2048·2/8 = 512 routed tokens.
constexpr Shape kShapes[] = {{"qkvo_384x384", 384, 384, kTokens},       {"up_1536x384", 1536, 384, kTokens},
                             {"down_384x1536", 384, 1536, kTokens},     {"ssm_out_384x768", 384, 768, kTokens},
                             {"ssm_x_56x768", 56, 768, kTokens},        {"ssm_dt_768x24", 768, 24, kTokens},
                             {"expert_384x384_m512", 384, 384, 512}};


// Max |a - b| / (1 + |b|).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]) / (1.0 + std::fabs(b[i])));
  return m;
}

void run_case(benchmark::State& state, const Shape& shape, QuantFormat format, bool dq, bool backward) {
  const QuantLayout L{format, shape.out, shape.in, dq};
  const auto w = benchdata::randn(L.n(), 0.02f, 1);
  const trainer::QuantMatrix q = trainer::quantize(L, w.data());
  const int64_t tokens = shape.tokens;
  const auto x = benchdata::randn(tokens * shape.in, 1.0f, 2);
  const auto dy = benchdata::randn(tokens * shape.out, 1.0f, 3);
  std::vector<float> panel(trainer::qmatmul_scratch_floats(L));
  std::vector<float> y(static_cast<size_t>(tokens * shape.out)), dx(static_cast<size_t>(tokens * shape.in));

  // Validate against sgemm on the dequantized weights.
  std::vector<float> wd(w.size());
  trainer::dequantize(q.view(), wd.data());
  const int M = int(tokens), out = int(shape.out), in = int(shape.in);
  if (!backward) {
    std::vector<float> ref(y.size());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, out, in, 1.0f, x.data(), in, wd.data(), in, 0.0f,
                ref.data(), out);
    trainer::qmatmul_forward(y.data(), x.data(), q.view(), tokens, panel.data());
    if (max_rel_diff(y, ref) > 1e-4) state.SkipWithError("forward does not match the dequantized reference");
  } else {
    std::vector<float> ref(dx.size(), 0.0f);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, in, out, 1.0f, dy.data(), out, wd.data(), in, 1.0f,
                ref.data(), in);
    std::fill(dx.begin(), dx.end(), 0.0f);
    trainer::qmatmul_backward_input(dx.data(), dy.data(), q.view(), tokens, panel.data());
    if (max_rel_diff(dx, ref) > 1e-4) state.SkipWithError("input gradient does not match the dequantized reference");
  }
  for (auto _ : state) {
    if (!backward) trainer::qmatmul_forward(y.data(), x.data(), q.view(), tokens, panel.data());
    else trainer::qmatmul_backward_input(dx.data(), dy.data(), q.view(), tokens, panel.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(tokens) * double(shape.out) * double(shape.in);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
  state.counters["weight_MiB"] = double(L.total_bytes()) / (1 << 20);
}

// Decoding alone (the whole matrix, row by row, to fp32) at one level of the engine's own loops: the AVX-512
// decoders against the AVX2 ones. Every decode is checked against the scalar decoder first.
void decode_case(benchmark::State& state, const Shape& shape, QuantFormat format, bool dq, trainer::SimdLevel level) {
  const QuantLayout L{format, shape.out, shape.in, dq};
  const trainer::QuantMatrix q = trainer::quantize(L, benchdata::randn(L.n(), 0.02f, 1).data());
  std::vector<float> want(static_cast<size_t>(L.n())), got(want.size());
  {
    const benchsimd::LevelScope scalar(state, trainer::SimdLevel::kPortable);
    trainer::dequantize(q.view(), want.data());
  }
  const benchsimd::LevelScope scope(state, level);
  if (!scope.ok()) return;
  trainer::dequantize(q.view(), got.data());
  if (got != want) state.SkipWithError("the decoder differs from the scalar one");
  // As the dequant-matmul decodes: one thread, a row of 384 values at a time into an L1-sized panel.
  std::vector<float> panel(static_cast<size_t>(8 * shape.in));
  for (auto _ : state) {
    for (int64_t r = 0; r < shape.out; ++r)
      trainer::dequantize_range(q.view(), r * shape.in, (r + 1) * shape.in, panel.data() + (r % 8) * shape.in);
    benchmark::ClobberMemory();
  }
  state.counters["Gvalues/s"] = benchmark::Counter(double(L.n()), benchmark::Counter::kIsIterationInvariantRate,
                                                   benchmark::Counter::kIs1000);
}

// Collects real times so the ratios to fp32 can be printed after the table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred) times_[r.benchmark_name()] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    // The cpu column is the calling thread's CPU time: with OMP_NUM_THREADS=1 it leaves out the time the
    // thread waited for a core, so on a busy machine it is the steadier of the two.
    std::printf("\nquantized time / fp32 sgemm time (same shape and tokens)\n");
    // With --benchmark_repetitions only the medians are compared (not single repetitions, means or spreads).
    bool medians = false;
    for (const auto& [name, t] : times_) medians = medians || name.ends_with("_median");
    for (const auto& [name, t] : times_) {
      if (medians && !name.ends_with("_median")) continue;
      if (name.ends_with("_stddev") || name.ends_with("_cv") || name.ends_with("_mean")) continue;
      size_t slash = name.find('/');
      std::string fmt = name.substr(0, slash), rest = name.substr(slash);
      if (fmt.find("f32") != std::string::npos) continue;
      std::string base = fmt.substr(0, fmt.find('_')) + "_f32" + rest;
      auto it = times_.find(base);
      if (it != times_.end())
        std::printf("  %-48s real %.3fx  cpu %.3fx\n", name.c_str(), t.real / it->second.real, t.cpu / it->second.cpu);
    }
  }

 private:
  struct Times {
    double real, cpu;
  };
  std::map<std::string, Times> times_;
};

}  // namespace

int main(int argc, char** argv) {
  struct Fmt {
    const char* name;
    QuantFormat format;
    bool dq;
  };
  const Fmt fmts[] = {{"f32", QuantFormat::kF32, false}, {"nf4", QuantFormat::kNF4, false},
                      {"nf4dq", QuantFormat::kNF4, true}, {"q8", QuantFormat::kQ8, false},
                      {"f16", QuantFormat::kF16, false}};
  // Each shape's fp32 case runs right before its quantized ones, so a change of machine load between
  // them skews fewer ratios.
  for (bool backward : {false, true}) {
    for (const Shape& s : kShapes) {
      for (const Fmt& f : fmts) {
        std::string name = std::string(backward ? "bwd_" : "fwd_") + f.name + "/" + s.name;
        benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_case(st, s, f.format, f.dq, backward); })
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      }
    }
  }
  for (const Fmt& f : fmts) {
    if (f.format != QuantFormat::kNF4 && f.format != QuantFormat::kQ8) continue;
    for (auto [level_name, level] : {std::pair{"avx2", trainer::SimdLevel::kAvx2}, {"avx512", trainer::SimdLevel::kAvx512}}) {
      const Shape& s = kShapes[1];  // up_1536x384
      std::string name = std::string("decode_") + f.name + "/" + s.name + "/" + level_name;
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { decode_case(st, s, f.format, f.dq, level); })
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
