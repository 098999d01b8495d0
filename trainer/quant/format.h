// Storage formats of a frozen base matrix: F32, F16, BF16, Q8 (int8 with one absmax scale per block
// of 64) and NF4 (4-bit NormalFloat of the QLoRA paper, Dettmers et al. 2023, with one absmax scale
// per block of 64 and optional double quantization of those scales). This file holds the formats,
// their byte layout and the element conversions; it does not multiply (see weight_matmul.h) and
// does not read or write files (see base_file.h). The formats' entries are in the weight type
// table (weight_types.h); this file is their QuantLayout view.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "trainer/quant/weight_types.h"

namespace trainer {

// The base formats `nightshift quantize --format` writes; each is an entry of the weight type table
// (weight_types.h, TypeTraits::base_format), where its layout, decoder and encoder are.
enum class QuantFormat { kF32, kF16, kBF16, kQ8, kNF4 };

// The table's entry of a base format.
const quant::TypeTraits& quant_format_type(QuantFormat f);
const char* quant_format_name(QuantFormat f);  // "f32", "f16", "bf16", "q8", "nf4"
// Parses one of the names above. InvalidArgument lists the known names.
common::Result<QuantFormat> parse_quant_format(std::string_view name);
// Whether the format has block scales (its codes and scales in sections: q8, nf4).
inline bool is_block_quantized(QuantFormat f) {
  return quant_format_type(f).packing == quant::Packing::kSections;
}

constexpr int64_t kQuantBlock = 64;   // values per absmax block (Q8, NF4)
constexpr int64_t kScaleBlock = 256;  // absmax scales per second-level block (double quantization)

// The 16 NF4 levels, ascending (QLoRA paper, Appendix E; the table bitsandbytes ships). Index 7 is 0.
inline constexpr std::array<float, 16> kNf4Codebook = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// IEEE binary16 and bfloat16 conversions, round to nearest even; NaN stays NaN, overflow gives inf.
uint16_t f32_to_f16(float x);
float f16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float x);
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// Byte layout of a (rows, cols) row-major matrix in one format. Blocks run over the flattened
// row-major elements (element i belongs to block i / 64), so a block may span a row boundary when
// cols is not a multiple of 64. One contiguous buffer holds, in order:
//   codes   : F32 4 B, F16/BF16 2 B, Q8 1 B per element; NF4 one byte per two elements
//             (element 2j in the low nibble, 2j+1 in the high nibble)
//   Q8/NF4 without double quantization: scales fp32 (n_blocks), the absmax of each block
//   NF4 with double quantization: scale_codes int8 (n_blocks), then fp32 scale_scales
//             (n_scale_blocks), then one fp32 scale_mean; absmax_b = mean + code_b * scale_scales[b/256]
// Sections start on 64-byte boundaries.
struct QuantLayout {
  QuantFormat format = QuantFormat::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  bool double_quant = false;  // NF4 only

  int64_t n() const { return rows * cols; }
  int64_t n_blocks() const { return is_block_quantized(format) ? (n() + kQuantBlock - 1) / kQuantBlock : 0; }
  int64_t n_scale_blocks() const { return double_quant ? (n_blocks() + kScaleBlock - 1) / kScaleBlock : 0; }
  size_t code_bytes() const;
  size_t scales_offset() const;       // fp32 scales (no double quant) or int8 scale codes
  size_t scale_scales_offset() const; // double quant only
  size_t scale_mean_offset() const;   // double quant only
  size_t total_bytes() const;
  // Bits per element including scale overhead (NF4: 4.5, with double quantization ~4.13).
  double bits_per_element() const { return 8.0 * static_cast<double>(total_bytes()) / static_cast<double>(n()); }
  // InvalidArgument when the combination is impossible (double quant on a non-NF4 format, empty).
  common::Status validate() const;
};

// A quantized matrix: its layout and a view of its bytes (owned elsewhere: an arena, a mapped file
// or a QuantMatrix). The accessors point into `bytes`.
struct QuantView {
  QuantLayout layout;
  const uint8_t* bytes = nullptr;  // layout.total_bytes()

  const uint8_t* codes() const { return bytes; }
  const float* scales() const { return reinterpret_cast<const float*>(bytes + layout.scales_offset()); }
  const int8_t* scale_codes() const { return reinterpret_cast<const int8_t*>(bytes + layout.scales_offset()); }
  const float* scale_scales() const { return reinterpret_cast<const float*>(bytes + layout.scale_scales_offset()); }
  float scale_mean() const { return *reinterpret_cast<const float*>(bytes + layout.scale_mean_offset()); }
  // The absmax of block b (decoding the double quantization when present). Not for F32/F16/BF16.
  float block_scale(int64_t b) const;
};

// An owning quantized matrix, for tools and tests (the trainer places its views in arenas).
class QuantMatrix {
 public:
  QuantMatrix() = default;
  explicit QuantMatrix(const QuantLayout& layout) : layout_(layout), bytes_(layout.total_bytes()) {}
  const QuantLayout& layout() const { return layout_; }
  uint8_t* data() { return bytes_.data(); }
  QuantView view() const { return QuantView{layout_, bytes_.data()}; }

 private:
  QuantLayout layout_;
  std::vector<uint8_t> bytes_;
};

// Quantizes src (layout.n() floats, row-major) into `dst` (layout.total_bytes()). Deterministic.
// Q8: code = round(x / (absmax/127)). NF4: the nearest level of x/absmax (ties to the lower level).
// An all-zero block has scale 0 and decodes to zeros.
void quantize_into(const QuantLayout& layout, const float* src, uint8_t* dst);
QuantMatrix quantize(const QuantLayout& layout, const float* src);

// Decodes elements [begin, end) of the flattened matrix into out[0 .. end-begin). Vectorized (AVX2,
// F16C) where the build allows, with OpenMP over blocks when the range is large.
void dequantize_range(const QuantView& w, int64_t begin, int64_t end, float* out);
inline void dequantize(const QuantView& w, float* out) { dequantize_range(w, 0, w.layout.n(), out); }

// The same matrix as the dequantizing matmul's operand (weight_types.h), and back (the matrix must
// be in a base format).
quant::WeightMatrix weight_matrix(const QuantView& v);
QuantView quant_view(const quant::WeightMatrix& w);

}  // namespace trainer
