// The machine's measured limits, shared by the probe and the microbenches: CPU model, sgemm peak
// (OpenBLAS cblas_sgemm on training-shaped products) and memory bandwidth (a STREAM-style triad over
// arrays far larger than the caches). limits() measures once per process; report_flops /
// report_bytes add a Google Benchmark counter with the achieved rate and one with its fraction of
// the measured limit.
#pragma once

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace benchlimits {

inline double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

inline std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

// Best GFLOP/s of C(M,N) = A(M,K) · B(N,K)ᵀ, the shape of a linear layer's forward.
inline double sgemm_gflops(int m, int n, int k, int threads, double min_seconds) {
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  std::vector<float> a(size_t(m) * k), b(size_t(n) * k), c(size_t(m) * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 7919) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float((i * 104729) % 1000) * 1e-3f - 0.5f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  double best = 0;
  const double start = now_s();
  while (now_s() - start < min_seconds) {
    const double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    best = std::max(best, 2.0 * m * n * k / (now_s() - t0) / 1e9);
  }
  return best;
}

// Best triad bandwidth in GB/s (3 arrays of `n` floats: 2 reads + 1 write per element).
inline double triad_gbs(size_t n, int threads, double min_seconds) {
  omp_set_num_threads(threads);
  std::vector<float> a(n), b(n), c(n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    a[i] = 0.0f;
    b[i] = 1.0f;
    c[i] = 2.0f;
  }
  const float s = 3.0f;
  double best = 0;
  const double start = now_s();
  while (now_s() - start < min_seconds) {
    const double t0 = now_s();
    float* pa = a.data();
    const float* pb = b.data();
    const float* pc = c.data();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    best = std::max(best, 3.0 * n * sizeof(float) / (now_s() - t0) / 1e9);
  }
  if (a[n / 2] != 7.0f) std::fprintf(stderr, "triad check failed\n");
  return best;
}

struct Limits {
  std::string cpu;
  int threads = 1;                 // cores
  int timing_threads = 1;          // what the benchmarks run on: OMP_NUM_THREADS, else every core
  double sgemm_1t = 0, sgemm = 0;  // GFLOP/s on 1 and on all threads
  double triad = 0;                // GB/s on all threads
  double sgemm_for_timing() const { return timing_threads == 1 ? sgemm_1t : sgemm; }
};

inline Limits measure(double seconds) {
  Limits l;
  l.cpu = cpu_model();
  l.threads = omp_get_num_procs();
  l.timing_threads = omp_get_max_threads();
  // Training-shaped products: (B*T, D) x (D, 4D) of gpt-small at B=4, T=256 and a square 1024.
  l.sgemm_1t = std::max(sgemm_gflops(1024, 1536, 384, 1, seconds), sgemm_gflops(1024, 1024, 1024, 1, seconds));
  l.sgemm = std::max(sgemm_gflops(1024, 1536, 384, l.threads, seconds),
                     sgemm_gflops(1024, 1024, 1024, l.threads, seconds));
  l.triad = triad_gbs(size_t(64) << 20, l.threads, seconds * 2);  // 3 x 256 MiB
  // Back to the count the run asked for, so that OMP_NUM_THREADS=1 times one thread.
  openblas_set_num_threads(l.timing_threads);
  omp_set_num_threads(l.timing_threads);
  return l;
}

// Measured on first use (about 4 s), then cached for the process.
inline const Limits& limits() {
  static const Limits l = measure(0.6);
  return l;
}

inline void print_limits(const Limits& l) {
  std::fprintf(stderr,
               "machine: %s, %d threads; sgemm peak %.1f GFLOP/s (1 thread %.1f), triad %.1f GB/s; "
               "timing on %d thread(s)\n",
               l.cpu.c_str(), l.threads, l.sgemm, l.sgemm_1t, l.triad, l.timing_threads);
}

// Counters: achieved GFLOP/s and its fraction of the sgemm peak of the timing thread count.
inline void report_flops(benchmark::State& s, double flops_per_iter) {
  const double total = flops_per_iter * double(s.iterations());
  s.counters["GFLOP/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  s.counters["of_peak"] =
      benchmark::Counter(total / (limits().sgemm_for_timing() * 1e9), benchmark::Counter::kIsRate);
}

// Counters: achieved GB/s (bytes that must move per call) and its fraction of the all-core triad.
inline void report_bytes(benchmark::State& s, double bytes_per_iter) {
  const double total = bytes_per_iter * double(s.iterations());
  s.counters["GB/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  s.counters["of_bw"] = benchmark::Counter(total / (limits().triad * 1e9), benchmark::Counter::kIsRate);
}

// main() of a microbench binary: measures and prints the limits, then runs the benchmarks.
inline int run_main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  print_limits(limits());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace benchlimits
