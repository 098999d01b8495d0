// Dequant-matmul: the two products a frozen linear layer needs when its weight W (out, in) is stored
// in a QuantFormat. W is decoded tile by tile (a block of rows × a block of columns) into an fp32
// scratch panel, and each tile is multiplied with cblas_sgemm; no fp32 copy of the whole W is ever
// made. There is no weight gradient: the base is frozen. F32 weights go straight to sgemm.
// Letters: M rows of activations (B·T tokens), In = W's cols, Out = W's rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant/format.h"

namespace trainer {

// Upper bound of one decoded tile in floats: 256K floats, 1 MiB. sgemm packs the tile into its own
// cache-sized blocks, so the tile itself only has to stay in L3; what costs is splitting the product
// (measured with bench/qmatmul_bench: 96K floats left the gpt-small shapes 10-20% slower than this).
// The scratch never exceeds it, except for a single row longer than this.
constexpr int64_t kQmatmulPanelFloats = 256 * 1024;

// The tile of W (rows × cols) each product decodes at a time. Both are chosen so that every sgemm
// has a summed dimension (the product's K) of a few hundred and the widest output it can get:
//   forward  y = x·Wᵀ: K runs over W's columns, so tiles are column chunks of as many rows as fit;
//            x is packed by sgemm once per row band, so there are few row bands.
//   backward dx += dy·W: K runs over W's rows, so tiles are row chunks of as many columns as fit.
// A tile never covers all of W when W has more than one row. Columns are split only on 64-value
// block boundaries of each row (block formats with In % 64 != 0 keep whole rows).
struct QmatmulTile {
  int64_t rows = 0, cols = 0;
};
QmatmulTile qmatmul_forward_tile(const QuantLayout& w);
QmatmulTile qmatmul_backward_tile(const QuantLayout& w);

// The scratch floats a caller must provide: the larger of the two tiles (0 for F32 weights).
size_t qmatmul_scratch_floats(const QuantLayout& w);

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`. `panel` holds
// qmatmul_scratch_floats(w) floats (may be null for F32).
void qmatmul_forward(float* y, const float* x, const QuantView& w, int64_t M, float* panel, bool accumulate = false);

// dx (M, In) += dy (M, Out) · W. Accumulates, as every backward in trainer/ does.
void qmatmul_backward_input(float* dx, const float* dy, const QuantView& w, int64_t M, float* panel);

}  // namespace trainer
