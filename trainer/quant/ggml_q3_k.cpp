// ggml's Q3_K: super-blocks of 256 values in 16 sub-blocks of 16, 110 bytes:
//   hmask[32]   the third bit of each level: bit k of byte l belongs to value 32k + l
//   qs[64]      the low 2 bits; byte l of 32-byte group g holds, from the low bits up, the values
//               128g + l, 128g + l + 32, 128g + l + 64, 128g + l + 96
//   scales[12]  16 signed 6-bit sub-block scales (stored + 32): low nibbles of 0..7 in bytes 0..7,
//               of 8..15 in their high nibbles; the top 2 bits of scale j in byte 8 + j%4, bits 2*(j/4)
//   d           fp16 super-block factor
//   x = d*(sc_j - 32) * (q - 4), q in 0..7
// Encoding follows ggml's quantize_row_q3_K_ref (no importance matrix): a symmetric fit per sub-block
// refined level by level, the sub-block scales quantized against the largest; this file is compiled
// without FMA contraction so the float operations round as ggml's reference C does and the bytes are
// identical. The file of a type.
#include <cmath>
#include <cstring>

#include "trainer/quant/ggml_rows.h"

namespace trainer::quant {
namespace {

constexpr int kSuper = 256;
constexpr size_t kBytes = 110;
constexpr int kHmaskAt = 0, kQsAt = 32, kScalesAt = 96, kDAt = 108;
constexpr float kAllZero = 1e-15f;  // ggml's GROUP_MAX_EPS

// Round to nearest (ties to even) through the float mantissa. |f| < 2^22.
inline int round_nearest(float f) {
  const float v = f + 12582912.f;
  int i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}
inline int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The symmetric scale of 16 values at levels -4..3, weights x^2: levels from the largest value, then
// up to five passes that move single levels while that raises the fit. L gets level + 4 (all 0 for
// an all-zero sub-block, as ggml leaves them).
float fit_sub_block(const float* x, int8_t* L) {
  constexpr int n = 16, nmax = 4;
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kAllZero) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = clampi(round_nearest(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx <= 0) continue;
      float sl2 = suml2 - w * L[i] * L[i];
      const int new_l = clampi(round_nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
      if (new_l == L[i]) continue;
      slx += w * x[i] * new_l;
      sl2 += w * new_l * new_l;
      if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
        L[i] = static_cast<int8_t>(new_l);
        sumlx = slx;
        suml2 = sl2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Sub-block j's stored 6-bit scale (0..63) from the 12 packed bytes.
inline int scale_code(const uint8_t* s, int j) {
  const int low = j < 8 ? (s[j] & 0xf) : (s[j - 8] >> 4);
  return low | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

}  // namespace

void decode_q3_k(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kSuper; ++b, src += kBytes) {
    const float d_all = half_to_float(load_u16(src + kDAt));
    const uint8_t* hm = src + kHmaskAt;
    const uint8_t* q = src + kQsAt;
    int j = 0;
    uint8_t m = 1;
    for (int g = 0; g < 2; ++g, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half, ++j) {
          const float dl = d_all * static_cast<float>(scale_code(src + kScalesAt, j) - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int level = ((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4);
            *dst++ = dl * static_cast<float>(level);
          }
        }
      }
    }
  }
}

void encode_q3_k(const float* src, uint8_t* dst, int64_t n) {
  int8_t L[kSuper];
  float scales[16];
  for (int64_t b = 0; b < n / kSuper; ++b, src += kSuper, dst += kBytes) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_sub_block(src + 16 * j, L + 16 * j);
      const float a = std::fabs(scales[j]);
      if (a > amax) {
        amax = a;
        max_scale = scales[j];
      }
    }
    uint8_t* s = dst + kScalesAt;
    std::memset(s, 0, 12);
    if (max_scale != 0.0f) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        int8_t l = static_cast<int8_t>(round_nearest(iscale * scales[j]));
        l = static_cast<int8_t>(clampi(l, -32, 31) + 32);
        if (j < 8)
          s[j] = static_cast<uint8_t>(l & 0xf);
        else
          s[j - 8] = static_cast<uint8_t>(s[j - 8] | ((l & 0xf) << 4));
        s[8 + j % 4] = static_cast<uint8_t>(s[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
      }
      store_u16(dst + kDAt, float_to_half(1 / iscale));
    } else {
      store_u16(dst + kDAt, float_to_half(0.f));
    }
    // The levels again, against the scales as stored.
    const float d_all = half_to_float(load_u16(dst + kDAt));
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * static_cast<float>(scale_code(s, j) - 32);
      if (!d) continue;
      for (int i = 0; i < 16; ++i)
        L[16 * j + i] = static_cast<int8_t>(clampi(round_nearest(src[16 * j + i] / d), -4, 3) + 4);
    }
    uint8_t* hm = dst + kHmaskAt;
    std::memset(hm, 0, 32);
    for (int j = 0; j < kSuper; ++j) {
      if (L[j] > 3) {
        hm[j % 32] = static_cast<uint8_t>(hm[j % 32] | (1u << (j / 32)));
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
    }
    uint8_t* q = dst + kQsAt;
    for (int g = 0; g < kSuper; g += 128, q += 32) {
      for (int l = 0; l < 32; ++l) {
        q[l] = static_cast<uint8_t>(L[g + l] | (L[g + l + 32] << 2) | (L[g + l + 64] << 4) | (L[g + l + 96] << 6));
      }
    }
  }
}

}  // namespace trainer::quant
