// The dequantizing matmul (weight_matmul.h) on a matrix in a ggml type as GGUF stores it: the names
// the GGUF-side tests, bench and loaders use. A TypedMatrix is a WeightMatrix of a kRowBlocks type.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant/ggml_types.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer::quant {

using TypedMatrix = WeightMatrix;
using TableTile = WeightTile;
// The panel a mapped base's products are given (every tile fits it).
constexpr int64_t kTablePanelFloats = kWeightPanelFloats;

inline TableTile table_forward_tile(const TypedMatrix& w) { return weight_forward_tile(w); }
inline TableTile table_backward_tile(const TypedMatrix& w) { return weight_backward_tile(w); }
inline size_t table_matmul_scratch_floats(const TypedMatrix& w) { return weight_matmul_scratch_floats(w); }

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`.
inline void table_matmul_forward(float* y, const float* x, const TypedMatrix& w, int64_t M, float* panel,
                                 bool accumulate = false) {
  weight_matmul_forward(y, x, w, M, panel, accumulate);
}
// dx (M, In) += dy (M, Out) · W.
inline void table_matmul_backward_input(float* dx, const float* dy, const TypedMatrix& w, int64_t M, float* panel) {
  weight_matmul_backward_input(dx, dy, w, M, panel);
}

}  // namespace trainer::quant
