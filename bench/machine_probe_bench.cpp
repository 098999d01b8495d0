// Machine probe: the limits every other benchmark figure is reported against (bench/bench_limits.h):
//   - CPU model and thread count,
//   - single-precision GEMM peak (OpenBLAS cblas_sgemm on training-shaped products, 1 and all threads),
//   - memory bandwidth (a STREAM-style triad a[i] = b[i] + s*c[i] over arrays far larger than the caches).
// Prints a table, or one JSON object with --json. Each figure is the best of several repetitions.
#include <cstdio>
#include <cstring>

#include "bench/bench_limits.h"

int main(int argc, char** argv) {
  const bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  const benchlimits::Limits l = benchlimits::measure(0.6);
  if (json) {
    std::printf("{\"cpu\": \"%s\", \"threads\": %d, \"sgemm_gflops_1t\": %.1f, \"sgemm_gflops\": %.1f, "
                "\"triad_gbs\": %.1f}\n", l.cpu.c_str(), l.threads, l.sgemm_1t, l.sgemm, l.triad);
  } else {
    std::printf("cpu              %s\n", l.cpu.c_str());
    std::printf("threads          %d\n", l.threads);
    std::printf("sgemm 1 thread   %.1f GFLOP/s\n", l.sgemm_1t);
    std::printf("sgemm %d threads  %.1f GFLOP/s\n", l.threads, l.sgemm);
    std::printf("triad bandwidth  %.1f GB/s\n", l.triad);
  }
  return 0;
}
