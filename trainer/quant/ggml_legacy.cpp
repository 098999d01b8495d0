// ggml's first block types, 32 values a block with one fp16 scale d (and a minimum m for the _1 types):
//   Q4_0 18 B: d, 16 B of nibbles           x = (q - 8) d        q in 0..15
//   Q4_1 20 B: d, m, 16 B of nibbles        x = q d + m          q in 0..15
//   Q5_0 22 B: d, 4 B of fifth bits, 16 B   x = (q - 16) d       q in 0..31
//   Q5_1 24 B: d, m, 4 B of fifth bits, 16 B x = q d + m         q in 0..31
//   Q8_0 34 B: d, 32 int8                   x = q d
// Nibble j of byte j holds value j (low) and value j + 16 (high); bit j of the fifth-bit word is
// value j's fifth bit. Encoding follows ggml's quantize_row_*_ref step for step (same float
// operations in the same order; this file is compiled without FMA contraction).
#include <cmath>
#include <cstring>

#include "trainer/quant/ggml_rows.h"

namespace trainer::quant {
namespace {

constexpr int kQk = 32;

inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The value of largest magnitude (its sign kept), first one on ties, as the _0 encoders pick it.
inline float signed_absmax(const float* x) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQk; ++j) {
    if (amax < std::fabs(x[j])) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max;
}

inline void min_max(const float* x, float* min_out, float* max_out) {
  float min = 3.402823466e+38f, max = -3.402823466e+38f;
  for (int j = 0; j < kQk; ++j) {
    if (x[j] < min) min = x[j];
    if (x[j] > max) max = x[j];
  }
  *min_out = min;
  *max_out = max;
}

inline uint8_t clamp_top(int v, int top) { return static_cast<uint8_t>(v < top ? v : top); }

}  // namespace

void decode_q4_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += 18, dst += kQk) {
    const float d = half_to_float(load_u16(src));
    // The codes copied out first (dst might alias them as far as the compiler knows), then low
    // nibbles and high ones in two plain 16-value loops: these vectorize.
    uint8_t qs[16];
    std::memcpy(qs, src + 2, 16);
    for (int j = 0; j < 16; ++j) dst[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
    for (int j = 0; j < 16; ++j) dst[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void encode_q4_0(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += kQk, dst += 18) {
    const float d = signed_absmax(src) / -8;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, float_to_half(d));
    for (int j = 0; j < 16; ++j) {
      const uint8_t lo = clamp_top(static_cast<int8_t>(src[j] * id + 8.5f), 15);
      const uint8_t hi = clamp_top(static_cast<int8_t>(src[j + 16] * id + 8.5f), 15);
      dst[2 + j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void decode_q4_1(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += 20, dst += kQk) {
    const float d = half_to_float(load_u16(src));
    const float m = half_to_float(load_u16(src + 2));
    uint8_t qs[16];  // as decode_q4_0
    std::memcpy(qs, src + 4, 16);
    for (int j = 0; j < 16; ++j) dst[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    for (int j = 0; j < 16; ++j) dst[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

void encode_q4_1(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += kQk, dst += 20) {
    float min, max;
    min_max(src, &min, &max);
    const float d = (max - min) / 15;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, float_to_half(d));
    store_u16(dst + 2, float_to_half(min));
    for (int j = 0; j < 16; ++j) {
      const uint8_t lo = clamp_top(static_cast<int8_t>((src[j] - min) * id + 0.5f), 15);
      const uint8_t hi = clamp_top(static_cast<int8_t>((src[j + 16] - min) * id + 0.5f), 15);
      dst[4 + j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void decode_q5_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += 22, dst += kQk) {
    const float d = half_to_float(load_u16(src));
    const uint32_t qh = load_u32(src + 2);
    const uint8_t* qs = src + 6;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) << 4) & 0x10);
      const int hi = (qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
      dst[j] = static_cast<float>(lo - 16) * d;
      dst[j + 16] = static_cast<float>(hi - 16) * d;
    }
  }
}

void encode_q5_0(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += kQk, dst += 22) {
    const float d = signed_absmax(src) / -16;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, float_to_half(d));
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t lo = clamp_top(static_cast<int8_t>(src[j] * id + 16.5f), 31);
      const uint8_t hi = clamp_top(static_cast<int8_t>(src[j + 16] * id + 16.5f), 31);
      dst[6 + j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(dst + 2, &qh, 4);
  }
}

void decode_q5_1(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += 24, dst += kQk) {
    const float d = half_to_float(load_u16(src));
    const float m = half_to_float(load_u16(src + 2));
    const uint32_t qh = load_u32(src + 4);
    const uint8_t* qs = src + 8;
    for (int j = 0; j < 16; ++j) {
      const int lo = (qs[j] & 0x0f) | static_cast<int>(((qh >> j) << 4) & 0x10);
      const int hi = (qs[j] >> 4) | static_cast<int>((qh >> (j + 12)) & 0x10);
      dst[j] = static_cast<float>(lo) * d + m;
      dst[j + 16] = static_cast<float>(hi) * d + m;
    }
  }
}

void encode_q5_1(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += kQk, dst += 24) {
    float min, max;
    min_max(src, &min, &max);
    const float d = (max - min) / 31;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, float_to_half(d));
    store_u16(dst + 2, float_to_half(min));
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t lo = static_cast<uint8_t>((src[j] - min) * id + 0.5f);
      const uint8_t hi = static_cast<uint8_t>((src[j + 16] - min) * id + 0.5f);
      dst[8 + j] = static_cast<uint8_t>((lo & 0x0f) | ((hi & 0x0f) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(dst + 4, &qh, 4);
  }
}

void decode_q8_0(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += 34, dst += kQk) {
    const float d = half_to_float(load_u16(src));
    const int8_t* qs = reinterpret_cast<const int8_t*>(src + 2);
    for (int j = 0; j < kQk; ++j) dst[j] = static_cast<float>(qs[j]) * d;
  }
}

void encode_q8_0(const float* src, uint8_t* dst, int64_t n) {
  for (int64_t b = 0; b < n / kQk; ++b, src += kQk, dst += 34) {
    float amax = 0.0f;
    for (int j = 0; j < kQk; ++j) amax = amax > std::fabs(src[j]) ? amax : std::fabs(src[j]);
    const float d = amax / 127;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, float_to_half(d));
    for (int j = 0; j < kQk; ++j) dst[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(std::round(src[j] * id)));
  }
}

}  // namespace trainer::quant
