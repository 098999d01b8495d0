// The dequantizing matmul (weight_matmul.h) on a matrix in one of nightshift's base formats, as a
// QuantView: the names the base-format tests and bench use. Letters as there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant/format.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer {

constexpr int64_t kQmatmulPanelFloats = quant::kWeightPanelFloats;
using QmatmulTile = quant::WeightTile;

inline QmatmulTile qmatmul_forward_tile(const QuantLayout& w) {
  return quant::weight_forward_tile(weight_matrix(QuantView{w, nullptr}));
}
inline QmatmulTile qmatmul_backward_tile(const QuantLayout& w) {
  return quant::weight_backward_tile(weight_matrix(QuantView{w, nullptr}));
}
// The scratch floats a caller must provide: the larger of the two tiles (0 for F32 weights).
inline size_t qmatmul_scratch_floats(const QuantLayout& w) {
  return quant::weight_matmul_scratch_floats(weight_matrix(QuantView{w, nullptr}));
}

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`.
inline void qmatmul_forward(float* y, const float* x, const QuantView& w, int64_t M, float* panel,
                            bool accumulate = false) {
  quant::weight_matmul_forward(y, x, weight_matrix(w), M, panel, accumulate);
}
// dx (M, In) += dy (M, Out) · W.
inline void qmatmul_backward_input(float* dx, const float* dy, const QuantView& w, int64_t M, float* panel) {
  quant::weight_matmul_backward_input(dx, dy, weight_matrix(w), M, panel);
}

}  // namespace trainer
