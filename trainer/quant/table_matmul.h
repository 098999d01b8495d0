// Dequantizing matmul over any type of the ggml type table (trainer/quant/ggml_types.h), for a
// frozen weight W (Out, In) kept in its file's encoding (e.g. memory-mapped from a GGUF): W is
// decoded tile by tile (a band of rows × a block-aligned chunk of columns) into an fp32 panel and
// each tile is multiplied with cblas_sgemm; no fp32 copy of the whole W is made. The same two
// products as trainer/qmatmul_kernels.h (forward, and the input gradient; W is frozen).
// Letters: M rows of activations (B·T tokens), In = W's cols, Out = W's rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant/ggml_types.h"

namespace trainer::quant {

// A (rows, cols) row-major matrix in one table type, as GGUF stores it: row r starts at
// r * row_bytes(*type, cols); cols is a multiple of type->block_elems. With a row order, row r of
// the matrix is stored row row_order[r] (a permutation of whole rows: llama's q/k in GGUF files).
struct TypedMatrix {
  const TypeTraits* type = nullptr;
  int64_t rows = 0, cols = 0;
  const uint8_t* bytes = nullptr;
  const int32_t* row_order = nullptr;  // rows entries, or null for the identity

  size_t row_stride() const { return row_bytes(*type, cols); }
  const uint8_t* row(int64_t r) const {
    return bytes + static_cast<size_t>(row_order ? row_order[r] : r) * row_stride();
  }
};

// Upper bound of one decoded tile in floats (1 MiB), as the NF4/Q8 products use.
constexpr int64_t kTablePanelFloats = 256 * 1024;

// The tile each product decodes at a time (see qmatmul_kernels.h for the reasoning): the forward
// sums along W's columns, so tiles are block-aligned column chunks of as many rows as fit; the
// input gradient sums along W's rows, so tiles are row chunks of as many columns as fit.
struct TableTile {
  int64_t rows = 0, cols = 0;
};
TableTile table_forward_tile(const TypedMatrix& w);
TableTile table_backward_tile(const TypedMatrix& w);
// The panel floats a caller must provide (the larger tile; 0 for F32, which needs none).
size_t table_matmul_scratch_floats(const TypedMatrix& w);

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`.
void table_matmul_forward(float* y, const float* x, const TypedMatrix& w, int64_t M, float* panel,
                          bool accumulate = false);
// dx (M, In) += dy (M, Out) · W.
void table_matmul_backward_input(float* dx, const float* dy, const TypedMatrix& w, int64_t M, float* panel);

}  // namespace trainer::quant
