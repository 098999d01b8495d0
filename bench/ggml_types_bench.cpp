// The ggml type table: decode throughput per type (values per second, 1M values decoded 4096 at a
// time into an L1-sized buffer, as the matmul decodes) and encode throughput,
// and the table's dequantizing matmul (forward y = x·Wᵀ) per type against cblas_sgemm on fp32, on
// SmolLM2-135M's MLP shapes (d_model 576, d_ff 1536) at B·T = 512 tokens. Rows of 576 are not
// whole K-quant super-blocks, so the up projection (In = 576) runs the 32-value types only, as a
// Q4_K_M file stores it. Each matmul case is validated against sgemm on the decoded W first.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cmath>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "trainer/quant/table_matmul.h"

namespace {

using trainer::quant::TypeTraits;

constexpr int64_t kValues = 1 << 20;
constexpr int64_t kTokens = 512;

void bm_decode(benchmark::State& state, const TypeTraits* t) {
  const auto x = benchdata::randn(kValues, 0.02f, 1);
  std::vector<uint8_t> q(trainer::quant::row_bytes(*t, kValues));
  t->encode_row(x.data(), q.data(), kValues);
  // As the dequantizing matmul decodes: a row segment at a time into a small (L1) panel.
  constexpr int64_t kSegment = 4096;
  std::vector<float> y(kSegment);
  const int64_t segment_bytes = trainer::quant::row_bytes(*t, kSegment);
  for (auto _ : state) {
    for (int64_t i = 0; i < kValues / kSegment; ++i) t->decode_row(q.data() + i * segment_bytes, y.data(), kSegment);
    benchmark::ClobberMemory();
  }
  state.counters["values/s"] = benchmark::Counter(double(kValues), benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::kIs1000);
}

void bm_encode(benchmark::State& state, const TypeTraits* t) {
  const auto x = benchdata::randn(kValues, 0.02f, 1);
  std::vector<uint8_t> q(trainer::quant::row_bytes(*t, kValues));
  for (auto _ : state) {
    t->encode_row(x.data(), q.data(), kValues);
    benchmark::ClobberMemory();
  }
  state.counters["values/s"] = benchmark::Counter(double(kValues), benchmark::Counter::kIsIterationInvariantRate,
                                                  benchmark::Counter::kIs1000);
}

void bm_forward(benchmark::State& state, const TypeTraits* t, int64_t out, int64_t in) {
  const auto w = benchdata::randn(out * in, 0.02f, 1);
  const size_t stride = trainer::quant::row_bytes(*t, in);
  std::vector<uint8_t> q(stride * static_cast<size_t>(out));
  for (int64_t r = 0; r < out; ++r) t->encode_row(w.data() + r * in, q.data() + r * stride, in);
  std::vector<float> wd(w.size());
  for (int64_t r = 0; r < out; ++r) t->decode_row(q.data() + r * stride, wd.data() + r * in, in);
  const trainer::quant::TypedMatrix m{t, out, in, q.data()};
  std::vector<float> panel(trainer::quant::table_matmul_scratch_floats(m));
  const auto x = benchdata::randn(kTokens * in, 1.0f, 2);
  std::vector<float> y(static_cast<size_t>(kTokens * out)), ref(y.size());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(kTokens), int(out), int(in), 1.0f, x.data(), int(in),
              wd.data(), int(in), 0.0f, ref.data(), int(out));
  trainer::quant::table_matmul_forward(y.data(), x.data(), m, kTokens, panel.data());
  for (size_t i = 0; i < y.size(); ++i) {
    if (!benchdata::close(y[i], ref[i], 1e-4)) {
      state.SkipWithError("forward does not match sgemm on the decoded weights");
      return;
    }
  }
  for (auto _ : state) {
    trainer::quant::table_matmul_forward(y.data(), x.data(), m, kTokens, panel.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(kTokens) * double(out) * double(in);
  state.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

}  // namespace

int main(int argc, char** argv) {
  for (const TypeTraits& t : trainer::quant::all_type_traits()) {
    const TypeTraits* p = &t;
    benchmark::RegisterBenchmark((std::string("decode/") + t.name).c_str(), [p](benchmark::State& s) { bm_decode(s, p); })
        ->Unit(benchmark::kMicrosecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("encode/") + t.name).c_str(), [p](benchmark::State& s) { bm_encode(s, p); })
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  struct Shape {
    const char* name;
    int64_t out, in;
  };
  for (const Shape& s : {Shape{"up_1536x576", 1536, 576}, Shape{"down_576x1536", 576, 1536}}) {
    for (const TypeTraits& t : trainer::quant::all_type_traits()) {
      if (s.in % t.block_elems != 0) continue;
      const TypeTraits* p = &t;
      benchmark::RegisterBenchmark((std::string("fwd_") + t.name + "/" + s.name).c_str(),
                                   [p, s](benchmark::State& st) { bm_forward(st, p, s.out, s.in); })
          ->Unit(benchmark::kMillisecond)->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
