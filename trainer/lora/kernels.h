// The two small products of a LoRA forward, written so that every output element is computed by the
// same sequence of fused multiply-adds whatever the rank: growing the rank (adding zero-effect
// directions) then leaves the output bit-identical, which cblas_sgemm does not promise (its kernels
// and blocking change with the matrix sizes). Backward uses sgemm (no such promise is needed there).
// Letters: M rows of activations, In / Out the base's cols / rows, r the rank.
#pragma once

#include <cstdint>

namespace trainer {

// u (M, r) = x (M, In) · Aᵀ, A (r, In). Each u[m][j] is the dot product of two In-vectors
// accumulated in 8 interleaved lanes (element i into lane i mod 8, in order, with fma) and summed
// in a fixed tree: a function of x[m] and A[j] only.
void lora_down_forward(float* u, const float* x, const float* a, int64_t M, int64_t in, int r);

// y (M, Out) += scale · u (M, r) · Bt (r, Out). Each y[m][o] gets fma(scale, acc, y) with
// acc = Σ_j u[m][j]·Bt[j][o] accumulated with fma in order j = 0..r-1 from +0: appending rows of
// zeros to Bt (a grown rank) leaves acc unchanged bit for bit.
void lora_up_forward(float* y, const float* u, const float* bt, float scale, int64_t M, int64_t out, int r);

}  // namespace trainer
