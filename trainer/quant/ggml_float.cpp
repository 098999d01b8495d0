// The unquantized ggml types: F32 (copied), F16 (IEEE binary16) and BF16 (bfloat16), one element a
// "block". Conversions round to nearest even, as ggml's fp32-to-fp16/bf16 row functions do. The
// decoders have an AVX2/F16C path (exact, as the scalar one) for the dequantizing matmul.
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "trainer/quant/ggml_rows.h"

namespace trainer::quant {

void decode_f32(const uint8_t* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
void encode_f32(const float* src, uint8_t* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void decode_f16(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__) && defined(__AVX2__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i))));
#endif
  for (; i < n; ++i) dst[i] = half_to_float(load_u16(src + 2 * i));
}
void encode_f16(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, float_to_half(src[i]));
}

void decode_bf16(const uint8_t* src, float* dst, int64_t n) {
  int64_t i = 0;
#if defined(__AVX2__)
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i)));
    _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
  }
#endif
  for (; i < n; ++i) dst[i] = bf16_to_float(load_u16(src + 2 * i));
}
void encode_bf16(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, float_to_bf16(src[i]));
}

}  // namespace trainer::quant
