// LoRA adapter math (Hu et al. 2021): y += scale · (x · Aᵀ) · Bᵀ on top of a frozen linear map, with
// A (r, In) Kaiming-uniform and B (Out, r) zero at init, so a fresh adapter changes nothing. Forward,
// backward (accumulating into dA, dB and dx; the base gets no gradient) and rank changes between
// steps. This file works on views; the memory (sized for rank_max) belongs to the trainer's arenas.
// Letters: M rows of activations (B·T tokens), In / Out the base's cols / rows, r the active rank.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainer {

// Views of one adapter's tensors, each sized for rank_max. B is kept transposed, Bt (r, Out), so
// that both factors grow and shrink by rows. Invariant: only the first `rank` rows of A and Bt (and
// of their gradients and moments) are nonzero; the rest of every buffer is zero, so a flat
// optimizer loop over the whole capacity leaves it zero.
struct LoraTensors {
  int64_t in = 0;       // In: cols of the base weight
  int64_t out = 0;      // Out: rows of the base weight
  int rank = 0;         // r, 1 <= r <= rank_max
  int rank_max = 0;
  float scale = 1.0f;   // alpha / r at creation; kept when the rank changes (only the factors change)
  float* a = nullptr;        // (rank_max, In), active (r, In)
  float* bt = nullptr;       // (rank_max, Out), active (r, Out): B transposed
  float* grad_a = nullptr;   // like a
  float* grad_bt = nullptr;  // like bt
  // AdamW moments, same layouts; null when the caller keeps none (then set_rank only moves params).
  float* m_a = nullptr;
  float* v_a = nullptr;
  float* m_bt = nullptr;
  float* v_bt = nullptr;

  int64_t a_capacity() const { return static_cast<int64_t>(rank_max) * in; }
  int64_t bt_capacity() const { return static_cast<int64_t>(rank_max) * out; }
};

// InvalidArgument unless 1 <= rank <= min(in, out) (the largest rank a (out, in) map can have) and
// rank <= rank_max. `what` names the layer in the message.
common::Status validate_lora_rank(int rank, int64_t in, int64_t out, const std::string& what);

// A ~ U(-1/sqrt(In), 1/sqrt(In)) on the active rows (PEFT's kaiming_uniform_(a=sqrt(5))), B = 0,
// and zeros everywhere else (capacity, gradients, moments). Deterministic in `seed`.
void lora_init(LoraTensors& t, uint64_t seed);

// y (M, Out) += scale · u · Bᵀ with u (M, r) = x (M, In) · Aᵀ. `u` is saved for backward
// (the caller provides M · rank_max floats). Rounding does not depend on the rank (lora_kernels.h).
void lora_forward(float* y, float* u, const float* x, const LoraTensors& t, int64_t M);

// Given dy (M, Out), x and the saved u:
//   grad_bt += scale · uᵀ · dy;  g = scale · dy · B  (M, r, in `g_scratch`, M · rank_max floats)
//   grad_a += gᵀ · x;            dx += g · A   (skipped when dx is null)
void lora_backward(float* dx, LoraTensors& t, const float* dy, const float* x, const float* u, float* g_scratch,
                   int64_t M);

// What one set_rank did, for the caller's log.
struct LoraRankChange {
  int old_rank = 0;
  int new_rank = 0;
  // ||scale·B·A||_F² before, and the part the change removed (the squared Frobenius distance between
  // the old and the new update: the sum of the discarded σ² of scale·B·A). 0 when growing.
  double update_norm_sq = 0.0;
  double discarded_sq = 0.0;
  double sigma_max = 0.0;       // largest singular value of scale·B·A before the change
  double sigma_kept_min = 0.0;  // smallest singular value kept (shrinking), 0 otherwise
};

// Changes the active rank between steps. Shrinking (r' < r) replaces B·A by its best rank-r'
// approximation (Eckart-Young): QR of Aᵀ and of B, an r × r SVD of R_B·R_Aᵀ, then
//   A' = c · (Q_A V)[:, :r']ᵀ   (rows of norm c, the RMS row norm of the old A)
//   B' = (Q_B U)[:, :r'] · Σ / c
// Growing (r' > r) appends Kaiming-uniform rows to A and zero rows to Bt: B'·A' = B·A exactly, and
// the forward output is bit-identical. Moments: entries of unchanged parameters (the old prefix when
// growing) keep theirs; rotated or new entries get m = 0 and v = the mean of the tensor's old active
// v (a basis-independent summary that keeps Adam's step size tame after the change; a plain reset to
// zero would make the first updates several times larger than lr under global bias correction).
// Gradients are zeroed. InvalidArgument (nothing changed) if r' is out of range.
common::Result<LoraRankChange> lora_set_rank(LoraTensors& t, int new_rank, uint64_t seed);

// Singular values of scale·B·A, descending (the r × r route above; exposed for tests and logs).
std::vector<double> lora_singular_values(const LoraTensors& t);

}  // namespace trainer
