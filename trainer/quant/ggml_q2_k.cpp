// ggml's Q2_K: super-blocks of 256 values in 16 sub-blocks of 16, 84 bytes:
//   scales[16]  one byte per sub-block: its 4-bit scale (low nibble) and 4-bit minimum (high nibble)
//   qs[64]      2-bit levels; byte l of 32-byte group g holds, from the low bits up, the values
//               128g + l, 128g + l + 32, 128g + l + 64, 128g + l + 96
//   d, dmin     fp16 super-block factors of the scales and of the minimums
//   x = d*sc_j * q - dmin*m_j, q in 0..3
// Encoding follows ggml's quantize_row_q2_K_ref (no importance matrix): each sub-block's scale and
// minimum are fitted against |x| weights minimizing the absolute error, then quantized to 4 bits
// against the largest of them; this file is compiled without FMA contraction so the float
// operations round as ggml's reference C does and the bytes are identical. The file of a type.
#include <cmath>
#include <cstring>

#include "trainer/quant/ggml_rows.h"

namespace trainer::quant {
namespace {

constexpr int kSuper = 256;
constexpr size_t kBytes = 84;
constexpr int kScalesAt = 0, kQsAt = 16, kDAt = 80, kDminAt = 82;

// Round to nearest (ties to even) through the float mantissa. |f| < 2^22.
inline int round_nearest(float f) {
  const float v = f + 12582912.f;
  int i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}
inline int clamp_level(int v, int hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

// Scale and (negated) minimum of 16 values at levels 0..3 with weights w = |x|: the least-absolute-
// error candidate among a grid of inverse scales, each refitted by weighted least squares.
float fit_sub_block(const float* x, const float* w, uint8_t* L, float* neg_min) {
  constexpr int n = 16, nmax = 3, nstep = 15;
  constexpr float rmin = -0.5f, rdelta = 0.1f;
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *neg_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = static_cast<uint8_t>(clamp_level(round_nearest(iscale * (x[i] - min)), nmax));
    const float diff = scale * L[i] + min - x[i];
    best_error += w[i] * std::fabs(diff);
  }
  uint8_t trial[n];
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = clamp_level(round_nearest(iscale * (x[i] - min)), nmax);
      trial[i] = static_cast<uint8_t>(l);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D <= 0) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
    float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
    if (this_min > 0) {
      this_min = 0;
      this_scale = sum_xl / sum_l2;
    }
    float error = 0;
    for (int i = 0; i < n; ++i) {
      const float diff = this_scale * trial[i] + this_min - x[i];
      error += w[i] * std::fabs(diff);
    }
    if (error < best_error) {
      std::memcpy(L, trial, n);
      best_error = error;
      scale = this_scale;
      min = this_min;
    }
  }
  *neg_min = -min;
  return scale;
}

}  // namespace

void decode_q2_k(const uint8_t* src, float* dst, int64_t n) {
  for (int64_t b = 0; b < n / kSuper; ++b, src += kBytes) {
    const float d = half_to_float(load_u16(src + kDAt));
    const float dmin = half_to_float(load_u16(src + kDminAt));
    const uint8_t* sc = src + kScalesAt;
    const uint8_t* q = src + kQsAt;
    for (int g = 0; g < 2; ++g, q += 32) {          // 128 values per 32 bytes
      for (int shift = 0; shift < 8; shift += 2) {  // four 32-value runs, 16 + 16 with their own scale
        for (int half = 0; half < 2; ++half) {
          const uint8_t s = *sc++;
          const float dl = d * (s & 0xf), ml = dmin * (s >> 4);
          const uint8_t* qq = q + 16 * half;
          for (int l = 0; l < 16; ++l) *dst++ = dl * static_cast<float>((qq[l] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void encode_q2_k(const float* src, uint8_t* dst, int64_t n) {
  uint8_t L[kSuper];
  float w[16], scales[16], mins[16];
  for (int64_t b = 0; b < n / kSuper; ++b, src += kSuper, dst += kBytes) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) w[l] = std::fabs(src[16 * j + l]);
      scales[j] = fit_sub_block(src + 16 * j, w, L + 16 * j, &mins[j]);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    uint8_t* sc = dst + kScalesAt;
    if (max_scale > 0) {
      const float iscale = 15.f / max_scale;
      for (int j = 0; j < 16; ++j) sc[j] = static_cast<uint8_t>(round_nearest(iscale * scales[j]));
      store_u16(dst + kDAt, float_to_half(max_scale / 15.f));
    } else {
      std::memset(sc, 0, 16);
      store_u16(dst + kDAt, float_to_half(0.f));
    }
    if (max_min > 0) {
      const float iscale = 15.f / max_min;
      for (int j = 0; j < 16; ++j) sc[j] = static_cast<uint8_t>(sc[j] | (round_nearest(iscale * mins[j]) << 4));
      store_u16(dst + kDminAt, float_to_half(max_min / 15.f));
    } else {
      store_u16(dst + kDminAt, float_to_half(0.f));
    }
    // The levels again, against the scales as stored.
    const float d_all = half_to_float(load_u16(dst + kDAt)), dmin_all = half_to_float(load_u16(dst + kDminAt));
    for (int j = 0; j < 16; ++j) {
      const float d = d_all * (sc[j] & 0xf);
      if (!d) continue;
      const float dm = dmin_all * (sc[j] >> 4);
      for (int i = 0; i < 16; ++i)
        L[16 * j + i] = static_cast<uint8_t>(clamp_level(round_nearest((src[16 * j + i] + dm) / d), 3));
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
