// Dequant-matmul: the two products a frozen linear layer needs when its weight W (out, in) is stored
// in a QuantFormat. W is decoded panel by panel (a few rows at a time) into a cache-resident fp32
// scratch panel, and each panel is multiplied with cblas_sgemm; no fp32 copy of the whole W is ever
// made. There is no weight gradient: the base is frozen. F32 weights go straight to sgemm.
// Letters: M rows of activations (B·T tokens), In = W's cols, Out = W's rows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trainer/quant_format.h"

namespace trainer {

// Target size of one decoded panel in floats (rows_per_panel = max(1, this / cols)): 96K floats, 384 KiB,
// which stays in a Zen 3 core's 512 KiB L2 next to sgemm's packed blocks.
constexpr int64_t kQmatmulPanelFloats = 96 * 1024;

// Rows of W decoded per panel, and the scratch floats a caller must provide (0 for F32 weights).
int64_t qmatmul_panel_rows(const QuantLayout& w);
size_t qmatmul_scratch_floats(const QuantLayout& w);

// y (M, Out) = x (M, In) · Wᵀ, or y += x · Wᵀ when `accumulate`. `panel` holds
// qmatmul_scratch_floats(w) floats (may be null for F32).
void qmatmul_forward(float* y, const float* x, const QuantView& w, int64_t M, float* panel, bool accumulate = false);

// dx (M, In) += dy (M, Out) · W. Accumulates, as every backward in trainer/ does.
void qmatmul_backward_input(float* dx, const float* dy, const QuantView& w, int64_t M, float* panel);

}  // namespace trainer
