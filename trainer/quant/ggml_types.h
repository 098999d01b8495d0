// The ggml tensor types nightshift reads and writes (the types of GGUF files): their ids and the
// lookups by id and name into the one weight type table (weight_types.h), where each type has its
// name, ggml type id, elements per block, bytes per block, and a row decoder to fp32 and encoder. Decoding is bit-exact with ggml's
// dequantize_row_*; encoding is bit-exact with ggml's reference quantizers (quantize_row_*_ref,
// which is what ggml_quantize_chunk and llama-quantize run when no importance matrix is given).
// Adding a type is one file (its decode/encode, trainer/quant/ggml_<type>.cpp) plus one entry in
// the table in weight_types.cpp. This file holds no matrix product and does not read files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "trainer/quant/weight_types.h"

namespace trainer::quant {

// ggml's type ids (ggml.h enum ggml_type), as stored in a GGUF tensor info. Only the ones in the
// table have traits; the others are named by ggml_type_name for error messages.
enum GgmlTypeId : uint32_t {
  kGgmlF32 = 0,
  kGgmlF16 = 1,
  kGgmlQ4_0 = 2,
  kGgmlQ4_1 = 3,
  kGgmlQ5_0 = 6,
  kGgmlQ5_1 = 7,
  kGgmlQ8_0 = 8,
  kGgmlQ2_K = 10,
  kGgmlQ3_K = 11,
  kGgmlQ4_K = 12,
  kGgmlQ5_K = 13,
  kGgmlQ6_K = 14,
  kGgmlBF16 = 30,
};

// The types of GGUF files: the entries of the weight type table (weight_types.h) with a ggml id,
// in id order.
std::span<const TypeTraits> all_type_traits();
// The traits of a ggml type id, or nullptr when nightshift does not handle that type.
const TypeTraits* type_traits(uint32_t ggml_id);
// By ggml's name, case-insensitive ("Q4_K", "q4_k", "bf16"); nullptr when unknown.
const TypeTraits* type_traits_by_name(std::string_view name);
// The upper-case name of any ggml type id ("Q4_K", also types without traits: "IQ2_XXS"), or
// "type N" for an id ggml does not define. For messages.
std::string ggml_type_name(uint32_t ggml_id);
// The names of the table's types joined by ", " (for error messages).
std::string supported_type_names();

// The type a matrix with rows of `cols` values is encoded in when `wanted` is asked for: `wanted`
// when the rows hold whole blocks of it, else q8_0 (as llama-quantize's mixtures fall back).
const TypeTraits* encoding_for_cols(const TypeTraits* wanted, int64_t cols);

}  // namespace trainer::quant
