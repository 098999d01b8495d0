// The dequantizing matmul: the two products a frozen linear layer needs when its weight W (Out, In)
// is kept in any type of the weight type table (weight_types.h): nightshift's base formats and the
// ggml types of GGUF files alike. W is decoded tile by tile (a band of rows × a range of columns)
// into an fp32 panel with the type's decoder, and each tile is multiplied with cblas_sgemm; no fp32
// copy of the whole W is ever made. There is no weight gradient: the base is frozen. F32 weights in
// stored row order go straight to sgemm. This file reads only the table, never a type's name.
// With ComputeDtype::kBf16 the tiles are decoded to bf16 and multiplied with bf16 dot products
// accumulating in fp32 (trainer/quant/bf16_gemm.h) in the same panel; F32 weights read in place,
// products that would run on one thread of several (fewer than 128 rows), and weights too small for
// a bf16 tile beside the activations' block in the panel (a few thousand values) stay in fp32.
// Letters: M rows of activations (B·T tokens), In = W's cols, Out = W's rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant/bf16_gemm.h"
#include "trainer/quant/weight_types.h"

namespace trainer::quant {

// Upper bound of one decoded tile in floats: 256K floats, 1 MiB. sgemm packs the tile into its own
// cache-sized blocks, so the tile itself only has to stay in L3; what costs is splitting the product
// (measured with bench/qmatmul_bench: 96K floats left the gpt-small shapes 10-20% slower than this).
// The scratch never exceeds it, except for a single row longer than this.
constexpr int64_t kWeightPanelFloats = 256 * 1024;

// The tile of W (rows × cols) each product decodes at a time. Both are chosen so that every sgemm
// has a summed dimension (the product's K) of a few hundred and the widest output it can get:
//   forward  y = x·Wᵀ: K runs over W's columns, so tiles are column chunks of as many rows as fit;
//            x is packed by sgemm once per row band, so there are few row bands.
//   backward dx += dy·W: K runs over W's rows, so tiles are row chunks of as many columns as fit.
// A tile never covers all of W when W has more than one row. Columns are split only on multiples of
// max(64, the type's block) (a sectioned type whose rows are not whole blocks keeps whole rows).
struct WeightTile {
  int64_t rows = 0, cols = 0;
};
WeightTile weight_forward_tile(const WeightMatrix& w);
WeightTile weight_backward_tile(const WeightMatrix& w);

// The scratch floats a caller must provide: the larger of the two tiles (0 for F32 weights in
// stored row order, which sgemm reads in place). Never more than kWeightPanelFloats unless one row
// is longer than that.
size_t weight_matmul_scratch_floats(const WeightMatrix& w);

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`. `panel` holds
// weight_matmul_scratch_floats(w) floats (may be null when that is 0).
void weight_matmul_forward(float* y, const float* x, const WeightMatrix& w, int64_t M, float* panel,
                           bool accumulate = false, ComputeDtype compute = ComputeDtype::kF32);

// dx (M, In) += dy (M, Out) · W. Accumulates, as every backward in trainer/ does.
void weight_matmul_backward_input(float* dx, const float* dy, const WeightMatrix& w, int64_t M, float* panel,
                                  ComputeDtype compute = ComputeDtype::kF32);

// All of W decoded to fp32 (rows × cols floats, in the matrix's row order), for exports and merges.
void decode_matrix(const WeightMatrix& w, float* out);

}  // namespace trainer::quant
