// Machine probe: the limits every other benchmark figure is reported against.
//   - CPU model and thread count,
//   - single-precision GEMM peak (OpenBLAS cblas_sgemm on training-shaped products, 1 and all threads),
//   - memory bandwidth (a STREAM-style triad a[i] = b[i] + s*c[i] over arrays far larger than the caches).
// Prints a table, or one JSON object with --json. Each figure is the best of several repetitions.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

extern "C" void openblas_set_num_threads(int);

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string cpu_model() {
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
double sgemm_gflops(int m, int n, int k, int threads, double min_seconds) {
  openblas_set_num_threads(threads);
  omp_set_num_threads(threads);
  std::vector<float> a(size_t(m) * k), b(size_t(n) * k), c(size_t(m) * n);
  for (size_t i = 0; i < a.size(); ++i) a[i] = float((i * 7919) % 1000) * 1e-3f - 0.5f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float((i * 104729) % 1000) * 1e-3f - 0.5f;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
  double best = 0;
  double start = now_s();
  while (now_s() - start < min_seconds) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f, c.data(), n);
    double dt = now_s() - t0;
    best = std::max(best, 2.0 * m * n * k / dt / 1e9);
  }
  return best;
}

// Best triad bandwidth in GB/s (3 arrays of `n` floats: 2 reads + 1 write per element).
double triad_gbs(size_t n, int threads, double min_seconds) {
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
  double start = now_s();
  while (now_s() - start < min_seconds) {
    double t0 = now_s();
    float* pa = a.data();
    const float* pb = b.data();
    const float* pc = c.data();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) pa[i] = pb[i] + s * pc[i];
    double dt = now_s() - t0;
    best = std::max(best, 3.0 * n * sizeof(float) / dt / 1e9);
  }
  if (a[n / 2] != 7.0f) std::fprintf(stderr, "triad check failed\n");
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = argc > 1 && std::strcmp(argv[1], "--json") == 0;
  int threads = omp_get_num_procs();
  const double kSeconds = 0.6;
  // Training-shaped products: (B*T, D) x (D, 4D) of gpt-small at B=4, T=256 and a square 1024.
  double g1 = std::max(sgemm_gflops(1024, 1536, 384, 1, kSeconds), sgemm_gflops(1024, 1024, 1024, 1, kSeconds));
  double gn = std::max(sgemm_gflops(1024, 1536, 384, threads, kSeconds),
                       sgemm_gflops(1024, 1024, 1024, threads, kSeconds));
  double bw = triad_gbs(size_t(64) << 20, threads, kSeconds * 2);  // 3 x 256 MiB
  std::string cpu = cpu_model();
  if (json) {
    std::printf("{\"cpu\": \"%s\", \"threads\": %d, \"sgemm_gflops_1t\": %.1f, \"sgemm_gflops\": %.1f, "
                "\"triad_gbs\": %.1f}\n", cpu.c_str(), threads, g1, gn, bw);
  } else {
    std::printf("cpu              %s\n", cpu.c_str());
    std::printf("threads          %d\n", threads);
    std::printf("sgemm 1 thread   %.1f GFLOP/s\n", g1);
    std::printf("sgemm %d threads  %.1f GFLOP/s\n", threads, gn);
    std::printf("triad bandwidth  %.1f GB/s\n", bw);
  }
  return 0;
}
