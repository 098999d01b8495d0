// Prints OpenBLAS's kernel set for this process (OPENBLAS_CORETYPE or its own choice) and a hash of
// the exact bits of cblas_sgemm -- the only BLAS routine the engine calls -- over shapes like the
// engine's (odd sizes, every transpose, alpha/beta, one and two threads). scripts/run-tests.sh runs
// the numerics once per kernel set whose hash differs: two kernel sets with the same hash computed
// the same bits and would give the same results.
#include <cblas.h>

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "trainer/formats/checksum.h"

extern "C" char* openblas_get_corename(void);
extern "C" void openblas_set_num_threads(int);

namespace {

// Deterministic values in [-1, 1) with full mantissas, so that rounding differences show.
void fill(std::vector<float>& v, std::uint32_t seed) {
  std::uint32_t s = seed * 2654435761u + 1u;
  for (float& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>(s >> 8) / 8388608.0f - 1.0f;
  }
}

}  // namespace

int main() {
  const int shapes[][3] = {{1, 1, 1},     {7, 5, 3},      {64, 64, 64},    {97, 131, 61},
                           {256, 384, 96}, {24, 50, 384},  {300, 17, 1000}, {512, 192, 48},
                           {1, 1536, 384}, {129, 257, 513}};
  std::uint64_t h = trainer::kFnv1a64Offset;
  for (int threads : {1, 2}) {
    openblas_set_num_threads(threads);
    std::uint32_t seed = 1;
    for (const auto& s : shapes) {
      const int m = s[0], n = s[1], k = s[2];
      for (int ta = 0; ta < 2; ++ta) {
        for (int tb = 0; tb < 2; ++tb) {
          std::vector<float> a(static_cast<std::size_t>(m) * k), b(static_cast<std::size_t>(k) * n),
              c(static_cast<std::size_t>(m) * n);
          fill(a, seed++);
          fill(b, seed++);
          fill(c, seed++);
          const float beta = (ta + tb) % 2 ? 1.0f : 0.0f;
          cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m,
                      n, k, 0.75f, a.data(), ta ? m : k, b.data(), tb ? k : n, beta, c.data(), n);
          h = trainer::fnv1a64({reinterpret_cast<const char*>(c.data()), c.size() * sizeof(float)}, h);
        }
      }
    }
  }
  std::printf("%s %s\n", openblas_get_corename(), trainer::hex64(h).c_str());
  return 0;
}
