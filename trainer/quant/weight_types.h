// The one table of weight types (weight_types.cpp), in the style of ggml's type traits: every
// encoding a frozen matrix can be kept in, those of GGUF files (f32, f16, bf16, q4_0 ... q6_K) and
// nightshift's own quantized base formats (q8, nf4), one entry each with its name, block size,
// bytes per block, how its bytes are laid out, its decoder to fp32 and its encoder. The dequantizing
// matmul (weight_matmul.h), the base files, the planner and the model loaders read the entries and
// never switch on a type. Adding a type is its decode/encode in one file and one line in the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace trainer {
struct QuantView;  // format.h
}

namespace trainer::quant {

// How a type's bytes are laid out in a (rows, cols) matrix.
enum class Packing : uint8_t {
  // ggml's: each row is whole blocks of block_bytes, a block's scales beside its codes; row r
  // starts at r * row_bytes(type, cols). cols must be a multiple of block_elems.
  kRowBlocks,
  // nightshift's q8/nf4 (format.h, QuantLayout): all codes of the flattened matrix first, then a
  // section of block scales (fp32 absmax per block_elems values, or double-quantized); blocks run
  // over the flattened matrix, across row boundaries. Any shape.
  kSections,
};

// Decodes n values (a whole number of blocks) from `src` into dst[0..n).
using DecodeRowFn = void (*)(const uint8_t* src, float* dst, int64_t n);
// Encodes n values (a whole number of blocks) of `src` into dst (n / block_elems * block_bytes bytes).
using EncodeRowFn = void (*)(const float* src, uint8_t* dst, int64_t n);
// kSections: decodes elements [begin, end) of the flattened matrix into out[0 .. end-begin).
using DecodeRangeFn = void (*)(const QuantView& w, int64_t begin, int64_t end, float* out);
// kSections: writes the codes of all elements of src; the block scales are already in place.
using EncodeCodesFn = void (*)(const QuantView& w, const float* src, uint8_t* codes);

// Not a ggml type (nightshift's own q8, nf4).
constexpr uint32_t kNoGgmlId = 0xffffffffu;
// Not one of nightshift's base formats (QuantFormat, format.h).
constexpr int kNoBaseFormat = -1;

struct TypeTraits {
  const char* name;  // ggml's name ("f32", "q4_K") or nightshift's ("q8", "nf4")
  uint32_t ggml_id;  // its GgmlTypeId in GGUF files, or kNoGgmlId
  int base_format;   // the QuantFormat it is (`nightshift quantize --format`), or kNoBaseFormat
  Packing packing;
  int64_t block_elems;         // values per block (kSections: per absmax scale); 1 for the float types
  size_t block_bytes;          // bytes per block (kSections: of the block's codes only, scales apart)
  bool plain_f32;              // the bytes are the fp32 values: sgemm reads them in place
  bool double_quant;           // kSections: its block scales may be double-quantized (nf4)
  DecodeRowFn decode_row;      // kRowBlocks (null for kSections)
  EncodeRowFn encode_row;      // kRowBlocks (null for kSections)
  DecodeRangeFn decode_range;  // kSections (null for kRowBlocks)
  EncodeCodesFn encode_codes;  // kSections (null for kRowBlocks)
};

// Every entry: first the ggml types in id order, then nightshift's own.
std::span<const TypeTraits> weight_types();

// Bits of one element's code, scales apart (f32 32, f16/bf16 16, q8 8, nf4 4): format.h's code section.
inline int code_bits(const TypeTraits& t) {
  return static_cast<int>(8 * t.block_bytes / static_cast<size_t>(t.block_elems));
}

// Bytes of n values of a kRowBlocks type t; n must be a multiple of t.block_elems (check first).
inline size_t row_bytes(const TypeTraits& t, int64_t n) {
  return static_cast<size_t>(n / t.block_elems) * t.block_bytes;
}

// A frozen (rows, cols) row-major weight matrix in one type of the table: the operand of the
// dequantizing matmul. kRowBlocks: row r is stored row row_order[r] when a row order is given (a
// permutation of whole rows: llama's q/k in GGUF files). kSections: format.h's QuantLayout, with
// double_quant as the layout says; no row order.
struct WeightMatrix {
  const TypeTraits* type = nullptr;
  int64_t rows = 0, cols = 0;
  const uint8_t* bytes = nullptr;
  const int32_t* row_order = nullptr;  // rows entries, or null for the identity
  bool double_quant = false;           // kSections only

  size_t row_stride() const { return row_bytes(*type, cols); }  // kRowBlocks only
  const uint8_t* row(int64_t r) const {
    return bytes + static_cast<size_t>(row_order ? row_order[r] : r) * row_stride();
  }
};

}  // namespace trainer::quant
