// Quantization formats: their entries in the weight type table (weight_types.h), layout arithmetic,
// half conversions, quantize, and the q8/nf4 block decoders and encoders the table points at. The
// decoders have AVX-512 and AVX2 paths (the level chosen at run time, simd_level.h) and a scalar path,
// which all agree exactly (each value is one product of a level and the block's scale).
#include "trainer/quant/format.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
// GCC 12 warns inside its own AVX-512 headers, whose _mm512_undefined_* initialize a variable with
// itself (-Wmaybe-uninitialized, GCC PR 105593; fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

#include "common/check.h"
#include "trainer/kernels/simd_level.h"
#include "trainer/quant/ggml_rows.h"

namespace trainer {
namespace {

size_t align64(size_t x) { return (x + 63) & ~static_cast<size_t>(63); }

// A double-quantized block scale: mean + code * the scale of its group of 256 scales (one
// expression for the decoder and QuantView::block_scale, so both round alike).
inline float dq_scale(float mean, int8_t code, float scale_scale) {
  return mean + static_cast<float>(code) * scale_scale;
}

// Midpoints between consecutive NF4 levels: x/absmax <= mid[i] goes to level i (ties to the lower).
std::array<float, 15> nf4_midpoints() {
  std::array<float, 15> mid{};
  for (int i = 0; i < 15; ++i) mid[i] = 0.5f * (kNf4Codebook[i] + kNf4Codebook[i + 1]);
  return mid;
}

uint8_t nf4_index(float normalized, const std::array<float, 15>& mid) {
  // Branch-free count of midpoints strictly below the value.
  int idx = 0;
  for (int i = 0; i < 15; ++i) idx += normalized > mid[i];
  return static_cast<uint8_t>(idx);
}

float block_absmax(const float* src, int64_t count) {
  float m = 0.0f;
  for (int64_t i = 0; i < count; ++i) m = std::max(m, std::fabs(src[i]));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Decoders of one block's elements [lo, hi) (offsets inside block b). `out` gets hi - lo floats.

void decode_nf4_scalar(const uint8_t* codes, int64_t first, int64_t count, float scale, float* out) {
  for (int64_t k = 0; k < count; ++k) {
    int64_t i = first + k;
    uint8_t byte = codes[i >> 1];
    uint8_t q = (i & 1) ? (byte >> 4) : (byte & 0x0F);
    out[k] = kNf4Codebook[q] * scale;
  }
}

#if defined(__AVX2__)
// 64 NF4 values from 32 bytes: the 16 scaled levels live in two registers, looked up with a
// cross-lane permute on the low three bits and blended on the fourth.
inline void decode_nf4_block_avx2(const uint8_t* bytes, float scale, float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  const __m256 lo_levels = _mm256_mul_ps(_mm256_loadu_ps(kNf4Codebook.data()), s);
  const __m256 hi_levels = _mm256_mul_ps(_mm256_loadu_ps(kNf4Codebook.data() + 8), s);
  const __m128i mask4 = _mm_set1_epi8(0x0F);
  for (int part = 0; part < 4; ++part) {  // 8 bytes -> 16 values per part
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(bytes + 8 * part));
    __m128i lo = _mm_and_si128(b, mask4);
    __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask4);
    __m128i idx8 = _mm_unpacklo_epi8(lo, hi);  // 16 indices in element order
    for (int half = 0; half < 2; ++half) {
      __m256i idx = _mm256_cvtepu8_epi32(half == 0 ? idx8 : _mm_srli_si128(idx8, 8));
      __m256 a = _mm256_permutevar8x32_ps(lo_levels, idx);
      __m256 c = _mm256_permutevar8x32_ps(hi_levels, idx);
      __m256 use_hi = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 -> sign bit
      _mm256_storeu_ps(out + 16 * part + 8 * half, _mm256_blendv_ps(a, c, use_hi));
    }
  }
}

inline void decode_q8_block_avx2(const int8_t* codes, float scale, float* out) {
  const __m256 s = _mm256_set1_ps(scale);
  for (int j = 0; j < 64; j += 8) {
    __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes + j));
    _mm256_storeu_ps(out + j, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), s));
  }
}

// The same with 16-wide vectors: all 16 scaled levels fit one register, so each 16 values are one
// permute. Compiled for AVX-512 whatever -march says; called only where the CPU has it.
#define NS_FORMAT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2")))

NS_FORMAT_AVX512 void decode_nf4_block_avx512(const uint8_t* bytes, float scale, float* out) {
  const __m512 levels = _mm512_mul_ps(_mm512_loadu_ps(kNf4Codebook.data()), _mm512_set1_ps(scale));
  const __m128i mask4 = _mm_set1_epi8(0x0F);
  for (int part = 0; part < 2; ++part) {  // 16 bytes -> 32 values per part
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * part));
    const __m128i lo = _mm_and_si128(b, mask4);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(b, 4), mask4);
    const __m128i first = _mm_unpacklo_epi8(lo, hi), second = _mm_unpackhi_epi8(lo, hi);  // element order
    _mm512_storeu_ps(out + 32 * part, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(first), levels));
    _mm512_storeu_ps(out + 32 * part + 16, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(second), levels));
  }
}

NS_FORMAT_AVX512 void decode_q8_block_avx512(const int8_t* codes, float scale, float* out) {
  const __m512 s = _mm512_set1_ps(scale);
  for (int j = 0; j < 64; j += 16) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + j));
    _mm512_storeu_ps(out + j, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)), s));
  }
}
#endif

// ---------------------------------------------------------------------------------------------
// Range decoders and code encoders of the table's entries.

// Calls decode_part(b, first, count, out) for the part [first, first+count) of each block b that
// [begin, end) covers, `out` pointing at that part's place in the output.
template <typename DecodePart>
void for_each_block_part(int64_t begin, int64_t end, float* out, DecodePart decode_part) {
  if (begin >= end) return;
  for (int64_t b = begin / kQuantBlock; b <= (end - 1) / kQuantBlock; ++b) {
    const int64_t lo = std::max(begin, b * kQuantBlock);
    const int64_t hi = std::min(end, (b + 1) * kQuantBlock);
    decode_part(b, lo, hi - lo, out + (lo - begin));
  }
}

// The absmax of each block, with the sections' offsets found once per range (QuantView::block_scale
// finds them per call).
class BlockScales {
 public:
  explicit BlockScales(const QuantView& w) : dq_(w.layout.double_quant) {
    if (dq_) {
      codes_ = w.scale_codes();
      scale_scales_ = w.scale_scales();
      mean_ = w.scale_mean();
    } else {
      plain_ = w.scales();
    }
  }
  float operator()(int64_t b) const { return dq_ ? dq_scale(mean_, codes_[b], scale_scales_[b / kScaleBlock]) : plain_[b]; }

 private:
  bool dq_;
  const float* plain_ = nullptr;
  const int8_t* codes_ = nullptr;
  const float* scale_scales_ = nullptr;
  float mean_ = 0.0f;
};

}  // namespace

void quant::decode_q8_range(const QuantView& w, int64_t begin, int64_t end, float* out) {
  const int8_t* codes = reinterpret_cast<const int8_t*>(w.codes());
  const BlockScales block_scale(w);
  [[maybe_unused]] const SimdLevel level = simd_level();
  for_each_block_part(begin, end, out, [&](int64_t b, int64_t first, int64_t count, float* part) {
    const float scale = block_scale(b) / 127.0f;
#if defined(__AVX2__)
    if (count == kQuantBlock && level == SimdLevel::kAvx512) return decode_q8_block_avx512(codes + first, scale, part);
    if (count == kQuantBlock && level == SimdLevel::kAvx2) return decode_q8_block_avx2(codes + first, scale, part);
#endif
    for (int64_t k = 0; k < count; ++k) part[k] = static_cast<float>(codes[first + k]) * scale;
  });
}

void quant::decode_nf4_range(const QuantView& w, int64_t begin, int64_t end, float* out) {
  const BlockScales block_scale(w);
  [[maybe_unused]] const SimdLevel level = simd_level();
  for_each_block_part(begin, end, out, [&](int64_t b, int64_t first, int64_t count, float* part) {
    const float scale = block_scale(b);
#if defined(__AVX2__)
    if (count == kQuantBlock && level == SimdLevel::kAvx512) return decode_nf4_block_avx512(w.codes() + first / 2, scale, part);
    if (count == kQuantBlock && level == SimdLevel::kAvx2) return decode_nf4_block_avx2(w.codes() + first / 2, scale, part);
#endif
    decode_nf4_scalar(w.codes(), first, count, scale, part);
  });
}

// Q8: code = round(x / (absmax/127)).
void quant::encode_q8_codes(const QuantView& w, const float* src, uint8_t* codes) {
  const int64_t n = w.layout.n();
  for (int64_t b = 0; b < w.layout.n_blocks(); ++b) {
    const float scale = w.block_scale(b);
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    const int64_t first = b * kQuantBlock, count = std::min(kQuantBlock, n - first);
    for (int64_t i = first; i < first + count; ++i) {
      float q = std::nearbyint(src[i] * inv * 127.0f);
      reinterpret_cast<int8_t*>(codes)[i] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
}

// NF4: the nearest level of x/absmax (ties to the lower level), two codes a byte (codes zeroed).
void quant::encode_nf4_codes(const QuantView& w, const float* src, uint8_t* codes) {
  const int64_t n = w.layout.n();
  const auto mid = nf4_midpoints();
  for (int64_t b = 0; b < w.layout.n_blocks(); ++b) {
    const float scale = w.block_scale(b);
    const float inv = scale != 0.0f ? 1.0f / scale : 0.0f;
    const int64_t first = b * kQuantBlock, count = std::min(kQuantBlock, n - first);
    for (int64_t i = first; i < first + count; ++i) {
      uint8_t q = nf4_index(src[i] * inv, mid);
      codes[i >> 1] |= static_cast<uint8_t>((i & 1) ? (q << 4) : q);
    }
  }
}

const quant::TypeTraits& quant_format_type(QuantFormat f) {
  // The table's entries of the base formats, found once.
  static const auto by_format = [] {
    std::array<const quant::TypeTraits*, 5> m{};
    for (const quant::TypeTraits& t : quant::weight_types())
      if (t.base_format != quant::kNoBaseFormat) m.at(static_cast<size_t>(t.base_format)) = &t;
    for (const quant::TypeTraits* t : m) CHECK_MSG(t != nullptr, "a QuantFormat without a weight type");
    return m;
  }();
  const auto i = static_cast<size_t>(f);
  CHECK_MSG(i < by_format.size(), "not a QuantFormat");
  return *by_format[i];
}

const char* quant_format_name(QuantFormat f) {
  return static_cast<size_t>(f) < 5 ? quant_format_type(f).name : "?";
}

common::Result<QuantFormat> parse_quant_format(std::string_view name) {
  std::string known;
  for (const quant::TypeTraits& t : quant::weight_types()) {
    if (t.base_format == quant::kNoBaseFormat) continue;
    if (name == t.name) return static_cast<QuantFormat>(t.base_format);
    known += (known.empty() ? "" : ", ") + std::string(t.name);
  }
  return common::Status::InvalidArgument("unknown quantization format '" + std::string(name) + "' (known: " + known +
                                         ")");
}

// ---------------------------------------------------------------------------------------------
// Half conversions (bit manipulation, round to nearest even).

uint16_t f32_to_f16(float x) {
  uint32_t f;
  std::memcpy(&f, &x, 4);
  uint32_t sign = (f >> 16) & 0x8000u;
  uint32_t exp = (f >> 23) & 0xFFu;
  uint32_t man = f & 0x7FFFFFu;
  if (exp == 0xFF) return static_cast<uint16_t>(sign | 0x7C00u | (man ? 0x200u | (man >> 13) : 0u));
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1F) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow -> inf
  if (e <= 0) {                                                  // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    man |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (man >> 13);
  uint32_t rem = man & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | half);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t man = h & 0x3FFu;
  uint32_t f;
  if (exp == 0) {
    if (man == 0) {
      f = sign;
    } else {  // subnormal: normalize
      int e = -1;
      do {
        man <<= 1;
        ++e;
      } while (!(man & 0x400u));
      f = sign | (static_cast<uint32_t>(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    f = sign | 0x7F800000u | (man << 13);
  } else {
    f = sign | ((exp + 127 - 15) << 23) | (man << 13);
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}

uint16_t f32_to_bf16(float x) {
  uint32_t f;
  std::memcpy(&f, &x, 4);
  if ((f & 0x7F800000u) == 0x7F800000u && (f & 0x7FFFFFu)) return static_cast<uint16_t>((f >> 16) | 0x40u);
  uint32_t rounding = 0x7FFFu + ((f >> 16) & 1u);
  return static_cast<uint16_t>((f + rounding) >> 16);
}

// ---------------------------------------------------------------------------------------------
// Layout.

size_t QuantLayout::code_bytes() const {
  return (static_cast<size_t>(n()) * static_cast<size_t>(quant::code_bits(quant_format_type(format))) + 7) / 8;
}

size_t QuantLayout::scales_offset() const { return align64(code_bytes()); }

size_t QuantLayout::scale_scales_offset() const {
  return align64(scales_offset() + static_cast<size_t>(n_blocks()));
}

size_t QuantLayout::scale_mean_offset() const {
  return scale_scales_offset() + 4 * static_cast<size_t>(n_scale_blocks());
}

size_t QuantLayout::total_bytes() const {
  if (!is_block_quantized(format)) return code_bytes();
  if (!double_quant) return scales_offset() + 4 * static_cast<size_t>(n_blocks());
  return scale_mean_offset() + 4;
}

common::Status QuantLayout::validate() const {
  if (rows <= 0 || cols <= 0)
    return common::Status::InvalidArgument("quantized matrix must have positive shape, got (" +
                                           std::to_string(rows) + ", " + std::to_string(cols) + ")");
  if (double_quant && !quant_format_type(format).double_quant)
    return common::Status::InvalidArgument(std::string("double quantization applies to nf4 only, not ") +
                                           quant_format_name(format));
  return common::Status::Ok();
}

float QuantView::block_scale(int64_t b) const {
  if (!layout.double_quant) return scales()[b];
  return dq_scale(scale_mean(), scale_codes()[b], scale_scales()[b / kScaleBlock]);
}

// ---------------------------------------------------------------------------------------------
// Quantize.

void quantize_into(const QuantLayout& L, const float* src, uint8_t* dst) {
  CHECK(L.validate().ok());
  std::memset(dst, 0, L.total_bytes());
  const int64_t n = L.n();
  const QuantView view{L, dst};
  const int64_t nb = L.n_blocks();
  if (nb > 0) {
    // Block formats: first the per-block absmax, possibly double-quantized; the codes are then
    // computed against the scale the decoder will actually use.
    std::vector<float> absmax(static_cast<size_t>(nb));
    for (int64_t b = 0; b < nb; ++b) {
      int64_t first = b * kQuantBlock, count = std::min(kQuantBlock, n - first);
      absmax[static_cast<size_t>(b)] = block_absmax(src + first, count);
    }
    if (!L.double_quant) {
      std::memcpy(dst + L.scales_offset(), absmax.data(), 4 * static_cast<size_t>(nb));
    } else {
      // QLoRA's double quantization: subtract the mean of the scales, then symmetric int8 with one
      // fp32 scale per 256 scales.
      double sum = 0.0;
      for (float a : absmax) sum += a;
      const float mean = static_cast<float>(sum / static_cast<double>(nb));
      auto* codes = reinterpret_cast<int8_t*>(dst + L.scales_offset());
      auto* sscales = reinterpret_cast<float*>(dst + L.scale_scales_offset());
      for (int64_t sb = 0; sb < L.n_scale_blocks(); ++sb) {
        int64_t first = sb * kScaleBlock, last = std::min(nb, first + kScaleBlock);
        float m = 0.0f;
        for (int64_t b = first; b < last; ++b) m = std::max(m, std::fabs(absmax[static_cast<size_t>(b)] - mean));
        float step = m / 127.0f;
        sscales[sb] = step;
        for (int64_t b = first; b < last; ++b) {
          float q = step > 0.0f ? std::nearbyint((absmax[static_cast<size_t>(b)] - mean) / step) : 0.0f;
          codes[b] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
        }
      }
      std::memcpy(dst + L.scale_mean_offset(), &mean, 4);
    }
  }
  const quant::TypeTraits& t = quant_format_type(L.format);
  if (t.packing == quant::Packing::kSections)
    t.encode_codes(view, src, dst);
  else
    t.encode_row(src, dst, n);  // the float types: one value a block, row after row
}

QuantMatrix quantize(const QuantLayout& layout, const float* src) {
  QuantMatrix m(layout);
  quantize_into(layout, src, m.data());
  return m;
}

// ---------------------------------------------------------------------------------------------
// Dequantize.

// Ranges shorter than this decode on the calling thread without opening an OpenMP region (opening
// even an inactive one per call costs about a microsecond, and the dequant-matmul decodes its tiles
// one row segment at a time).
constexpr int64_t kParallelDecode = 65536;

namespace {

// Decodes [begin, end) of the flattened matrix on this thread (the float types have one value a block).
void decode_range_here(const quant::TypeTraits& t, const QuantView& w, int64_t begin, int64_t end, float* out) {
  if (t.packing == quant::Packing::kSections)
    t.decode_range(w, begin, end, out);
  else
    t.decode_row(w.codes() + quant::row_bytes(t, begin), out, end - begin);
}

}  // namespace

void dequantize_range(const QuantView& w, int64_t begin, int64_t end, float* out) {
  CHECK(begin >= 0 && begin <= end && end <= w.layout.n());
  const quant::TypeTraits& t = quant_format_type(w.layout.format);
  const int64_t count = end - begin;
  // Short ranges (one row of a tile) and f32 (a copy): no OpenMP region at all.
  if (count < kParallelDecode || t.plain_f32) {
    decode_range_here(t, w, begin, end, out);
    return;
  }
  // Long ranges in parallel: the block formats block by block, the float types in chunks of 4096.
  const int64_t chunk = t.packing == quant::Packing::kSections ? t.block_elems : 4096;
  const int64_t c_first = begin / chunk, c_last = (end - 1) / chunk;  // inclusive
#pragma omp parallel for schedule(static)
  for (int64_t c = c_first; c <= c_last; ++c) {
    const int64_t lo = std::max(begin, c * chunk), hi = std::min(end, (c + 1) * chunk);
    decode_range_here(t, w, lo, hi, out + (lo - begin));
  }
}

quant::WeightMatrix weight_matrix(const QuantView& v) {
  return quant::WeightMatrix{&quant_format_type(v.layout.format), v.layout.rows, v.layout.cols, v.bytes, nullptr,
                             v.layout.double_quant};
}

QuantView quant_view(const quant::WeightMatrix& w) {
  CHECK(w.type->base_format != quant::kNoBaseFormat && w.row_order == nullptr);
  return QuantView{QuantLayout{static_cast<QuantFormat>(w.type->base_format), w.rows, w.cols, w.double_quant}, w.bytes};
}

}  // namespace trainer
