// Storage precisions of model weights and what one matrix costs in each, scale overhead included:
// F32, F16, BF16, Q8 and NF4 exactly as the engine lays them out (trainer/quant/format.h: blocks of
// 64 with an fp32 absmax, NF4 optionally double-quantized), Q4 (ggml Q4_0 style: 4-bit codes and an
// fp16 scale per block of 32) and ternary 1.58-bit (BitNet b1.58: five trits packed per byte and an
// fp32 absmean scale per row). Byte counts only; no conversion of values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace budget {

enum class Precision { kF32, kF16, kBF16, kQ8, kQ4, kNF4, kNF4DoubleQuant, kTernary };

// "f32", "f16", "bf16", "q8", "q4", "nf4", "nf4-dq", "ternary".
const char* precision_name(Precision p);
// Parses the names above (and "nf4dq"). InvalidArgument lists the known names.
common::Result<Precision> parse_precision(std::string_view name);
// The precisions of the report's weight table, in order: f32, f16, q8, q4, nf4, ternary (bf16 costs
// what f16 costs; nf4 is the QLoRA format without double quantization).
const std::vector<Precision>& report_precisions();

// True for the storage nightshift itself trains in or writes (`quantize`): f32, f16, bf16, q8, nf4,
// nf4-dq. q4 and ternary are in the report for planning only.
bool nightshift_writes(Precision p);

// Bytes of a (rows, cols) matrix stored in `p`, including per-block scales and the 64-byte section
// alignment the engine uses for Q8/NF4.
uint64_t matrix_bytes(Precision p, int64_t rows, int64_t cols);

// Effective bits per element of a large matrix (e.g. NF4 4.5, NF4 double-quantized ~4.127).
double bits_per_element(Precision p);

}  // namespace budget
