// Internal to trainer/quant/: the row decoders and encoders of each type or family (one .cpp each:
// ggml_float.cpp, ggml_legacy.cpp, ggml_kquants.cpp, ggml_q2_k.cpp, ggml_q3_k.cpp; q8/nf4 in
// format.cpp) that the table in weight_types.cpp points at, and the fp16/bf16 scalar conversions
// they share (round to nearest even, as ggml's).
#pragma once

#include <cstdint>
#include <cstring>

#include "trainer/quant/weight_types.h"

namespace trainer::quant {

inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // inf or NaN
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// IEEE binary16, round to nearest even; overflow gives inf, NaN stays a (quiet) NaN.
inline uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65536: inf
  if (ax < 0x38800000u) {  // below the smallest normal half: a subnormal or zero
    if (ax < 0x33000000u) return sign;  // below half of the smallest subnormal (ties to even: 0)
    const uint32_t e = ax >> 23;
    const uint32_t m = (ax & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 + (113 - e) - ... : value = m * 2^(e-150), unit 2^-24
    const uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    uint32_t r = q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
    return static_cast<uint16_t>(sign | r);
  }
  // normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even
  uint32_t h = ((ax >> 13) - (112u << 10));
  const uint32_t rem = ax & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // a carry into the exponent is right
  return static_cast<uint16_t>(sign | h);
}

inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16, round to nearest even; NaN stays a quiet NaN (as ggml_compute_fp32_to_bf16).
inline uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 64);
  return static_cast<uint16_t>((x + (0x7fffu + ((x >> 16) & 1))) >> 16);
}

inline uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

void decode_f32(const uint8_t* src, float* dst, int64_t n);
void encode_f32(const float* src, uint8_t* dst, int64_t n);
void decode_f16(const uint8_t* src, float* dst, int64_t n);
void encode_f16(const float* src, uint8_t* dst, int64_t n);
void decode_bf16(const uint8_t* src, float* dst, int64_t n);
void encode_bf16(const float* src, uint8_t* dst, int64_t n);

void decode_q4_0(const uint8_t* src, float* dst, int64_t n);
void encode_q4_0(const float* src, uint8_t* dst, int64_t n);
void decode_q4_1(const uint8_t* src, float* dst, int64_t n);
void encode_q4_1(const float* src, uint8_t* dst, int64_t n);
void decode_q5_0(const uint8_t* src, float* dst, int64_t n);
void encode_q5_0(const float* src, uint8_t* dst, int64_t n);
void decode_q5_1(const uint8_t* src, float* dst, int64_t n);
void encode_q5_1(const float* src, uint8_t* dst, int64_t n);
void decode_q8_0(const uint8_t* src, float* dst, int64_t n);
void encode_q8_0(const float* src, uint8_t* dst, int64_t n);

void decode_q4_k(const uint8_t* src, float* dst, int64_t n);
void encode_q4_k(const float* src, uint8_t* dst, int64_t n);
void decode_q5_k(const uint8_t* src, float* dst, int64_t n);
void encode_q5_k(const float* src, uint8_t* dst, int64_t n);
void decode_q6_k(const uint8_t* src, float* dst, int64_t n);
void encode_q6_k(const float* src, uint8_t* dst, int64_t n);

void decode_q2_k(const uint8_t* src, float* dst, int64_t n);  // ggml_q2_k.cpp
void encode_q2_k(const float* src, uint8_t* dst, int64_t n);
void decode_q3_k(const uint8_t* src, float* dst, int64_t n);  // ggml_q3_k.cpp
void encode_q3_k(const float* src, uint8_t* dst, int64_t n);

// nightshift's own sectioned formats (format.cpp): a range of the flattened matrix, the codes.
void decode_q8_range(const QuantView& w, int64_t begin, int64_t end, float* out);
void encode_q8_codes(const QuantView& w, const float* src, uint8_t* codes);
void decode_nf4_range(const QuantView& w, int64_t begin, int64_t end, float* out);
void encode_nf4_codes(const QuantView& w, const float* src, uint8_t* codes);

}  // namespace trainer::quant
