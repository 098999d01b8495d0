// The bf16 product of bf16_gemm.h: packing of A (fp32 rows rounded to bf16) and of B (the caller's
// decoded rows), and the driver that walks blocks of K (kKBlockPairs pairs, so that one panel of B
// stays in L1) and of A's rows (packed once per K block, in L2) over register blocks of 12 × 32.
// The native kernel uses AVX512_BF16 through target attributes, so the file builds for any x86-64
// and the kernel is only called where the CPU has the instruction.
#include "trainer/quant/bf16_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "common/check.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NS_BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
// GCC 12 warns inside its own AVX-512 headers, whose _mm512_undefined_* initialize a variable with
// itself (-Wmaybe-uninitialized, GCC PR 105593; fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace trainer::quant {
namespace {

constexpr int64_t kKBlockPairs = 256;  // pairs of K per block: a B panel of 256 × 32 pairs is 32 KiB
constexpr int64_t kMaxBlockRows = 120; // rows of A packed at a time: 120 × 512 bf16 = 120 KiB
constexpr int64_t kMR = kBf16BlockRows;
constexpr int64_t kNR = kBf16PanelCols;

int64_t pairs_of(int64_t K) { return (K + 1) / 2; }

// ---- scalar ------------------------------------------------------------------------------------

// Rows [0, rows) of A, values [k0, k0 + len) each, into rows of `width` bf16 (width even ≥ len; the
// values past len are zero).
void pack_a_scalar(const float* a, int64_t lda, int64_t rows, int64_t k0, int64_t len, int64_t width, uint16_t* out) {
  for (int64_t m = 0; m < rows; ++m) {
    const float* src = a + m * lda + k0;
    uint16_t* dst = out + m * width;
    for (int64_t i = 0; i < len; ++i) dst[i] = float_to_bf16(src[i]);
    for (int64_t i = len; i < width; ++i) dst[i] = 0;
  }
}

// C block (mr, ncols) (+)= A rows (mr, kp pairs; row stride a_stride pairs) · B panel (kp pairs × 32).
void kernel_scalar(int64_t mr, int64_t kp, const uint32_t* a, int64_t a_stride, const uint32_t* b, float* c,
                   int64_t ldc, int64_t ncols, bool load_c) {
  float acc[kMR][kNR] = {};
  for (int64_t p = 0; p < kp; ++p) {
    const uint32_t* bp = b + p * kNR;
    for (int64_t m = 0; m < mr; ++m) {
      const uint32_t av = a[m * a_stride + p];
      const float a0 = bf16_to_float(static_cast<uint16_t>(av)), a1 = bf16_to_float(static_cast<uint16_t>(av >> 16));
      for (int64_t j = 0; j < kNR; ++j) {
        const float b0 = bf16_to_float(static_cast<uint16_t>(bp[j])), b1 = bf16_to_float(static_cast<uint16_t>(bp[j] >> 16));
        acc[m][j] += a0 * b0 + a1 * b1;
      }
    }
  }
  for (int64_t m = 0; m < mr; ++m) {
    float* cr = c + m * ldc;
    for (int64_t j = 0; j < ncols; ++j) cr[j] = load_c ? cr[j] + acc[m][j] : acc[m][j];
  }
}

// ---- AVX512_BF16 -------------------------------------------------------------------------------

#if defined(__x86_64__)

NS_BF16_TARGET void pack_a_native(const float* a, int64_t lda, int64_t rows, int64_t k0, int64_t len, int64_t width,
                                  uint16_t* out) {
  for (int64_t m = 0; m < rows; ++m) {
    const float* src = a + m * lda + k0;
    uint16_t* dst = out + m * width;
    int64_t i = 0;
    for (; i + 32 <= len; i += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
      _mm512_storeu_si512(dst + i, reinterpret_cast<__m512i>(v));
    }
    for (; i < len; i += 16) {
      const int64_t n = std::min<int64_t>(16, len - i);
      const __mmask16 k = static_cast<__mmask16>((1u << n) - 1);
      const __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
      _mm256_mask_storeu_epi16(dst + i, k, reinterpret_cast<__m256i>(v));
    }
    for (i = len; i < width; ++i) dst[i] = 0;
  }
}

template <int MR>
NS_BF16_TARGET void kernel_native(int64_t kp, const uint32_t* a, int64_t a_stride, const uint32_t* b, float* c,
                                  int64_t ldc, int64_t ncols, bool load_c) {
  __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 12
  for (int m = 0; m < MR; ++m) acc0[m] = acc1[m] = _mm512_setzero_ps();
  for (int64_t p = 0; p < kp; ++p) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kNR));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_loadu_si512(b + p * kNR + 16));
#pragma GCC unroll 12
    for (int m = 0; m < MR; ++m) {
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(a[m * a_stride + p])));
      acc0[m] = _mm512_dpbf16_ps(acc0[m], av, b0);
      acc1[m] = _mm512_dpbf16_ps(acc1[m], av, b1);
    }
  }
  const __mmask16 k0 = ncols >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << ncols) - 1);
  const __mmask16 k1 = ncols >= 32   ? __mmask16(0xFFFF)
                       : ncols <= 16 ? __mmask16(0)
                                     : static_cast<__mmask16>((1u << (ncols - 16)) - 1);
#pragma GCC unroll 12
  for (int m = 0; m < MR; ++m) {
    float* cr = c + m * ldc;
    __m512 v0 = acc0[m], v1 = acc1[m];
    if (load_c) {
      v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(k0, cr), v0);
      v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(k1, cr + 16), v1);
    }
    _mm512_mask_storeu_ps(cr, k0, v0);
    _mm512_mask_storeu_ps(cr + 16, k1, v1);
  }
}

using NativeKernel = void (*)(int64_t, const uint32_t*, int64_t, const uint32_t*, float*, int64_t, int64_t, bool);
constexpr NativeKernel kNativeKernels[kMR + 1] = {nullptr,          kernel_native<1>,  kernel_native<2>,
                                                   kernel_native<3>, kernel_native<4>,  kernel_native<5>,
                                                   kernel_native<6>, kernel_native<7>,  kernel_native<8>,
                                                   kernel_native<9>, kernel_native<10>, kernel_native<11>,
                                                   kernel_native<12>};

// Values [k0, k0 + len) of column n of B: 16 values (8 pairs) at a time, each pair to its place in the panel.
NS_BF16_TARGET void pack_b_column_native(uint16_t* packed, int64_t K, int64_t n, int64_t k0, int64_t len,
                                         const float* col) {
  uint32_t* dst = reinterpret_cast<uint32_t*>(packed) + (n / kNR) * pairs_of(K) * kNR + n % kNR + (k0 / 2) * kNR;
  alignas(64) uint32_t tmp[8];
  int64_t k = 0;
  for (; k + 16 <= len; k += 16) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp),
                       reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(col + k))));
    uint32_t* d = dst + (k / 2) * kNR;
    for (int i = 0; i < 8; ++i) d[i * kNR] = tmp[i];
  }
  for (; k < len; k += 2) {
    const uint32_t lo = float_to_bf16(col[k]), hi = k + 1 < len ? float_to_bf16(col[k + 1]) : 0u;
    dst[(k / 2) * kNR] = lo | (hi << 16);
  }
}

// Rows k, k+1 of B: 16 columns at a time, the two rows' values interleaved into pairs.
NS_BF16_TARGET void pack_b_rows_native(uint16_t* packed, int64_t K, int64_t N, int64_t k, const float* row0,
                                       const float* row1) {
  const int64_t pairs = pairs_of(K), p = k / 2;
  uint32_t* base = reinterpret_cast<uint32_t*>(packed);
  for (int64_t n = 0; n < N; n += 16) {
    const int64_t cnt = std::min<int64_t>(16, N - n);
    const __mmask16 mask = cnt == 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << cnt) - 1);
    const __m256bh lo = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, row0 + n));
    __m512i v = _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(lo));
    if (row1 != nullptr) {
      const __m256bh hi = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, row1 + n));
      v = _mm512_or_si512(v, _mm512_slli_epi32(_mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(hi)), 16));
    }
    // n is a multiple of 16, so the 16 columns lie in one panel.
    _mm512_mask_storeu_epi32(base + ((n / kNR) * pairs + p) * kNR + n % kNR, mask, v);
  }
}

#endif  // __x86_64__

}  // namespace

const char* compute_dtype_name(ComputeDtype d) { return d == ComputeDtype::kBf16 ? "bf16" : "fp32"; }

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__)
  static const bool has = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
#else
  return false;
#endif
}

bool bf16_scalar_kernel_requested() {
  const char* env = std::getenv("NIGHTSHIFT_BF16_KERNEL");
  return env != nullptr && std::string_view(env) == "scalar";
}

bool bf16_native_kernel() { return cpu_has_avx512_bf16() && !bf16_scalar_kernel_requested(); }

uint16_t float_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN, quieted
  if ((u & 0x7f800000u) == 0) return static_cast<uint16_t>((u >> 16) & 0x8000u);        // zero, denormal
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

size_t bf16_packed_b_elems(int64_t K, int64_t N) {
  return static_cast<size_t>((N + kNR - 1) / kNR * kNR * pairs_of(K) * 2);
}

void bf16_pack_b_column(uint16_t* packed, int64_t K, int64_t n, int64_t k0, int64_t len, const float* col, bool native) {
  CHECK(k0 % 2 == 0 && k0 + len <= K && (len % 2 == 0 || k0 + len == K));
#if defined(__x86_64__)
  if (native) return pack_b_column_native(packed, K, n, k0, len, col);
#endif
  uint32_t* dst = reinterpret_cast<uint32_t*>(packed) + (n / kNR) * pairs_of(K) * kNR + n % kNR + (k0 / 2) * kNR;
  for (int64_t k = 0; k < len; k += 2) {
    const uint32_t lo = float_to_bf16(col[k]), hi = k + 1 < len ? float_to_bf16(col[k + 1]) : 0u;
    dst[(k / 2) * kNR] = lo | (hi << 16);
  }
}

void bf16_pack_b_rows(uint16_t* packed, int64_t K, int64_t N, int64_t k, const float* row0, const float* row1,
                      bool native) {
  CHECK(k % 2 == 0 && k < K && (row1 == nullptr) == (k + 1 == K));
#if defined(__x86_64__)
  if (native) return pack_b_rows_native(packed, K, N, k, row0, row1);
#endif
  const int64_t pairs = pairs_of(K), p = k / 2;
  uint32_t* base = reinterpret_cast<uint32_t*>(packed);
  for (int64_t n = 0; n < N; ++n) {
    const uint32_t lo = float_to_bf16(row0[n]), hi = row1 != nullptr ? float_to_bf16(row1[n]) : 0u;
    base[((n / kNR) * pairs + p) * kNR + n % kNR] = lo | (hi << 16);
  }
}

size_t bf16_gemm_a_scratch_min(int64_t K) {
  return static_cast<size_t>(kMR * 2 * std::min(pairs_of(K), kKBlockPairs));
}

size_t bf16_gemm_a_scratch_best(int64_t K) {
  return static_cast<size_t>(kMaxBlockRows * 2 * std::min(pairs_of(K), kKBlockPairs));
}

void bf16_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* packed_b, float* C,
               int64_t ldc, bool accumulate, uint16_t* a_scratch, size_t a_scratch_elems, bool native) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate)
      for (int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, 0.0f);
    return;
  }
#if !defined(__x86_64__)
  native = false;
#endif
  CHECK(!native || cpu_has_avx512_bf16());
  const int64_t pairs = pairs_of(K);
  const int64_t kc = std::min(pairs, kKBlockPairs);
  CHECK(a_scratch != nullptr && a_scratch_elems >= bf16_gemm_a_scratch_min(K));
  CHECK(reinterpret_cast<uintptr_t>(a_scratch) % 4 == 0 && reinterpret_cast<uintptr_t>(packed_b) % 4 == 0);
  const int64_t mc = std::clamp<int64_t>(static_cast<int64_t>(a_scratch_elems) / (2 * kc) / kMR * kMR, kMR,
                                         kMaxBlockRows);
  const int64_t panels = (N + kNR - 1) / kNR;
  const uint32_t* b32 = reinterpret_cast<const uint32_t*>(packed_b);
  const uint32_t* a32 = reinterpret_cast<const uint32_t*>(a_scratch);
  for (int64_t p0 = 0; p0 < pairs; p0 += kc) {
    const int64_t kp = std::min(kc, pairs - p0);
    const int64_t k0 = 2 * p0, len = std::min(2 * kp, K - k0);
    const bool load_c = accumulate || p0 > 0;
    for (int64_t m0 = 0; m0 < M; m0 += mc) {
      const int64_t mn = std::min(mc, M - m0);
#if defined(__x86_64__)
      if (native)
        pack_a_native(A + m0 * lda, lda, mn, k0, len, 2 * kp, a_scratch);
      else
#endif
        pack_a_scalar(A + m0 * lda, lda, mn, k0, len, 2 * kp, a_scratch);
      for (int64_t np = 0; np < panels; ++np) {
        const uint32_t* b = b32 + (np * pairs + p0) * kNR;
        const int64_t ncols = std::min(kNR, N - np * kNR);
        for (int64_t mb = 0; mb < mn; mb += kMR) {
          const int64_t mr = std::min(kMR, mn - mb);
          float* c = C + (m0 + mb) * ldc + np * kNR;
#if defined(__x86_64__)
          if (native) {
            kNativeKernels[mr](kp, a32 + mb * kp, kp, b, c, ldc, ncols, load_c);
            continue;
          }
#endif
          kernel_scalar(mr, kp, a32 + mb * kp, kp, b, c, ldc, ncols, load_c);
        }
      }
    }
  }
}

}  // namespace trainer::quant
