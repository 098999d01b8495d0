// bf16 compute for the frozen base (`train --compute-dtype bf16`): the dequantizing matmul of an NF4
// and a Q4_K weight (Q8_0 where rows are not whole Q4_K blocks), forward (y = x·Wᵀ) and input gradient (dx += dy·W), in fp32 (decode to fp32,
// cblas_sgemm) and in bf16 (decode to bf16, trainer/quant/bf16_gemm.h), on gpt-small's and a
// Qwen2.5-0.5B-like model's linear shapes at T = 512 tokens; and the bare products (sgemm on fp32
// against bf16_gemm on an already packed B) on the same shapes. Each bf16 case is checked against
// its fp32 twin before it is timed. After the table: each bf16 time as a ratio of the fp32 time.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "trainer/quant/bf16_gemm.h"
#include "trainer/quant/format.h"
#include "trainer/quant/ggml_types.h"
#include "trainer/quant/weight_matmul.h"

namespace {

using trainer::quant::ComputeDtype;

struct Shape {
  const char* name;
  int64_t out, in;
};
// gpt-small (d 384, d_ff 1536); Qwen2.5-0.5B (d 896, 2 KV heads of 64, d_ff 4864).
constexpr Shape kShapes[] = {{"gs_qkvo_384x384", 384, 384},    {"gs_up_1536x384", 1536, 384},
                             {"gs_down_384x1536", 384, 1536},  {"qw_q_896x896", 896, 896},
                             {"qw_kv_128x896", 128, 896},      {"qw_up_4864x896", 4864, 896},
                             {"qw_down_896x4864", 896, 4864}};
constexpr int64_t kTokens = 512;

// The weight of a shape in `type` ("nf4": nightshift's, with double quantization; else a ggml type).
struct BenchWeight {
  std::vector<uint8_t> bytes;
  trainer::QuantMatrix quant;
  trainer::quant::WeightMatrix w;
};
BenchWeight make_weight(const std::string& type, const Shape& s) {
  BenchWeight b;
  const std::vector<float> src = benchdata::randn(s.out * s.in, 0.02f, 1);
  if (type == "nf4") {
    b.quant = trainer::quantize(trainer::QuantLayout{trainer::QuantFormat::kNF4, s.out, s.in, true}, src.data());
    b.w = trainer::weight_matrix(b.quant.view());
    return b;
  }
  const trainer::quant::TypeTraits* t = trainer::quant::type_traits_by_name(type);
  const size_t stride = trainer::quant::row_bytes(*t, s.in);
  b.bytes.resize(stride * static_cast<size_t>(s.out));
  for (int64_t r = 0; r < s.out; ++r) t->encode_row(src.data() + r * s.in, b.bytes.data() + r * stride, s.in);
  b.w = trainer::quant::WeightMatrix{t, s.out, s.in, b.bytes.data()};
  return b;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double scale = 1e-6, m = 0;
  for (float v : b) scale = std::max(scale, static_cast<double>(std::fabs(v)));
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]) / scale);
  return m;
}

void run_weight(benchmark::State& state, const Shape& s, const std::string& type, ComputeDtype dt, bool backward) {
  const BenchWeight bw = make_weight(type, s);
  const auto x = benchdata::randn(kTokens * s.in, 1.0f, 2);
  const auto dy = benchdata::randn(kTokens * s.out, 1.0f, 3);
  std::vector<float> panel(trainer::quant::weight_matmul_scratch_floats(bw.w));
  std::vector<float> y(static_cast<size_t>(kTokens * s.out)), dx(static_cast<size_t>(kTokens * s.in));
  auto run = [&](ComputeDtype d, std::vector<float>* out) {
    if (backward) trainer::quant::weight_matmul_backward_input(out->data(), dy.data(), bw.w, kTokens, panel.data(), d);
    else trainer::quant::weight_matmul_forward(out->data(), x.data(), bw.w, kTokens, panel.data(), false, d);
  };
  if (dt == ComputeDtype::kBf16) {
    std::vector<float> ref(backward ? dx.size() : y.size()), got(ref.size());
    run(ComputeDtype::kF32, &ref);
    run(ComputeDtype::kBf16, &got);
    if (max_rel_diff(got, ref) > 0.02) state.SkipWithError("bf16 does not match fp32");
  }
  for (auto _ : state) {
    run(dt, backward ? &dx : &y);
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kTokens * s.out * s.in, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

// The bare products y (T, out) = x (T, in) · Wᵀ: sgemm on fp32 W, or bf16_gemm on W packed once, the
// rows split between the threads as weight_matmul splits them.
void run_bare(benchmark::State& state, const Shape& s, ComputeDtype dt) {
  const auto w = benchdata::randn(s.out * s.in, 0.02f, 1);
  const auto x = benchdata::randn(kTokens * s.in, 1.0f, 2);
  std::vector<float> y(static_cast<size_t>(kTokens * s.out));
  std::vector<uint16_t> packed(trainer::quant::bf16_packed_b_elems(s.in, s.out));
  const bool native = trainer::quant::bf16_native_kernel();
  for (int64_t n = 0; n < s.out; ++n) trainer::quant::bf16_pack_b_column(packed.data(), s.in, n, 0, s.in, w.data() + n * s.in, native);
  const int nt = omp_get_max_threads();
  const size_t scratch = trainer::quant::bf16_gemm_a_scratch_best(s.in);
  std::vector<uint16_t> a_scratch(scratch * static_cast<size_t>(nt));
  auto run = [&] {
    if (dt == ComputeDtype::kF32) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(kTokens), int(s.out), int(s.in), 1.0f, x.data(), int(s.in),
                  w.data(), int(s.in), 0.0f, y.data(), int(s.out));
      return;
    }
#pragma omp parallel num_threads(nt)
    {
      const int t = omp_get_thread_num();
      const int64_t m0 = kTokens * t / nt, m1 = kTokens * (t + 1) / nt;
      trainer::quant::bf16_gemm(m1 - m0, s.out, s.in, x.data() + m0 * s.in, s.in, packed.data(), y.data() + m0 * s.out,
                                s.out, false, a_scratch.data() + scratch * t, scratch, native);
    }
  };
  for (auto _ : state) {
    run();
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * kTokens * s.out * s.in, benchmark::Counter::kIsIterationInvariantRate,
                                                 benchmark::Counter::kIs1000);
}

// Collects real times so that each bf16 case's ratio to its fp32 twin can be printed after the table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred) times_[r.benchmark_name()] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  void print_ratios() const {
    bool medians = false;
    for (const auto& [name, t] : times_) medians = medians || name.ends_with("_median");
    std::printf("\nfp32 time / bf16 time (the bf16 speed-up; same shape, %lld tokens)\n", static_cast<long long>(kTokens));
    for (const auto& [name, t] : times_) {
      if (medians && !name.ends_with("_median")) continue;
      if (name.ends_with("_stddev") || name.ends_with("_cv") || name.ends_with("_mean")) continue;
      const size_t at = name.find("_bf16");
      if (at == std::string::npos) continue;
      auto it = times_.find(name.substr(0, at) + "_fp32" + name.substr(at + 5));
      if (it != times_.end()) std::printf("  %-44s %.2fx\n", name.c_str(), it->second / t);
    }
  }

 private:
  std::map<std::string, double> times_;
};

}  // namespace

int main(int argc, char** argv) {
  if (!trainer::quant::bf16_native_kernel())
    std::printf("note: no AVX512_BF16 kernel on this CPU (or NIGHTSHIFT_BF16_KERNEL=scalar): bf16 runs the scalar kernel\n");
  for (const Shape& s : kShapes) {
    for (ComputeDtype dt : {ComputeDtype::kF32, ComputeDtype::kBf16}) {
      const std::string name = std::string("bare_") + trainer::quant::compute_dtype_name(dt) + "/" + s.name;
      benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_bare(st, s, dt); })
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
  for (bool backward : {false, true}) {
    for (const Shape& s : kShapes) {
      // Q4_K where W's rows are whole 256-value blocks, else Q8_0 (as llama-quantize's Q4_K_M falls back).
      for (const char* type : {"nf4", s.in % 256 == 0 ? "q4_K" : "q8_0"}) {
        for (ComputeDtype dt : {ComputeDtype::kF32, ComputeDtype::kBf16}) {
          const std::string name = std::string(backward ? "bwd_" : "fwd_") + type + "_" +
                                   trainer::quant::compute_dtype_name(dt) + "/" + s.name;
          benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& st) { run_weight(st, s, type, dt, backward); })
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.print_ratios();
  benchmark::Shutdown();
  return 0;
}
