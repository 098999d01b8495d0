// The `conv` sub-layer (LFM2's short gated convolution, docs/model.md "conv") as free functions over
// non-owning views: forward, backward, and the causal depthwise convolution they run. Input is the
// already normalised x (B, T, D); the norm and the residual belong to the caller.
//   bcx = x·in_projᵀ split into B, C, x (each D wide);  bx = B ⊙ x;
//   c[t] = Σ_j conv[d, j] · bx[t-L+1+j]  (causal, depthwise, no bias, no activation);
//   y = C ⊙ c;  out += y·out_projᵀ.
// Letters: B batch, T sequence, D d_model, L conv width (l_cache); M = B·T rows.
#pragma once

#include <cstdint>

#include "trainer/layers/linear.h"

namespace trainer {

struct ConvDims {
  int B = 0, T = 0, D = 0, L = 0;
  int rows() const { return B * T; }
};

// The two projections as Linear maps (plain fp32, or a frozen base with a LoRA adapter) and the
// conv kernel with its gradient (null = frozen or forward only).
struct ConvWeights {
  Linear in_proj;                 // (3D, D)
  Linear out_proj;                // (D, D)
  const float* conv_w = nullptr;  // (D, L)
  float* dconv_w = nullptr;
};

// What the forward saves for the backward.
struct ConvActivations {
  float* bcx = nullptr;   // (B, T, 3D) in_proj output: B | C | x
  float* bx = nullptr;    // (B, T, D) B ⊙ x, the conv input
  float* conv = nullptr;  // (B, T, D) conv output
  float* y = nullptr;     // (B, T, D) C ⊙ conv, the out_proj input
};

// Backward temporaries (garbage between calls).
struct ConvScratch {
  float* dbcx = nullptr;  // (B, T, 3D)
  float* dy = nullptr;    // (B, T, D), then d(conv) in place
  float* dbx = nullptr;   // (B, T, D)
};

// out (B, T, D) += conv_block(x). Fills `act`. With `history` (B, L-1, D) non-null the sequence
// continues from it (the last L-1 conv inputs) and it is advanced past the T tokens; null starts
// from zeros (training). Packed rows: doc_start (B, T) (the index within its row of each token's
// document start; null = one document per row) restarts the conv at every document, as the ssm
// kind's conv does (trainer/kernels/ssm.h).
void conv_block_forward(float* out, const ConvActivations& act, const float* x, const ConvWeights& w, float* history,
                        const ConvDims& d, const int32_t* doc_start = nullptr);

// Backward of a stateless conv_block_forward (same doc_start): dx (B, T, D) += dL/dx (skipped when
// null), and the gradients of the Linear maps and dconv_w (when non-null) accumulate.
void conv_block_backward(float* dx, const float* dout, const float* x, const ConvActivations& act, const ConvWeights& w,
                         const ConvScratch& scratch, const ConvDims& d, const int32_t* doc_start = nullptr);

// The convolution alone: out[b,t,d] = Σ_j w[d,j] · x[b, t-L+1+j, d] over x (B, T, D); positions
// before 0 read `history` (B, L-1, D) when non-null, else 0; positions before a token's document
// start read 0 (history only by a row's first document).
void short_conv_forward(float* out, const float* x, const float* history, const float* w, int B, int T, int D, int L,
                        const int32_t* doc_start = nullptr);
// Its backward from zero history: dx += wᵀ-convolved dout; dw (D, L) += the correlation of dout
// with x (skipped when null).
void short_conv_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, int B, int T, int D,
                         int L, const int32_t* doc_start = nullptr);

// Matmul-class FLOPs of one forward (the two projections).
inline double conv_block_forward_flops(const ConvDims& d) { return 2.0 * d.rows() * 4.0 * d.D * d.D; }

}  // namespace trainer
