// The MoE sub-layer (docs/model.md "moe") as free functions over non-owning views: router
// softmax, top-k with renormalised gates (ties to the lower expert index), tokens grouped by
// expert so each expert runs one sgemm per projection, SwiGLU experts, an optional always-on
// shared expert, and the Switch load-balancing loss aux = X·Σ_e f_e·P_e (f_e constant in
// backward). No capacity, no token dropping. Input is the normalised x; norm and residual belong
// to the caller. Letters: M tokens (B·T), D d_model, X experts, k top-k, Fe expert width,
// Fs shared width (0 = no shared expert).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainer/layers/linear.h"

namespace trainer {

struct ModelConfig;

struct MoeDims {
  int M = 0, D = 0, X = 0, k = 0, Fe = 0, Fs = 0;
  bool renormalize = true;  // gates = top-k probabilities / their sum; false: the probabilities
  int assignments() const { return M * k; }
};
MoeDims moe_dims(const ModelConfig& config, int tokens);

struct SwigluParams {
  float* gate = nullptr;  // (F, D)
  float* up = nullptr;    // (F, D)
  float* down = nullptr;  // (D, F)
};

// Raw storage of the weights, or of their gradients (same shapes), in docs/model.md order.
struct MoeParams {
  float* router = nullptr;            // (X, D)
  std::vector<SwigluParams> experts;  // X of them, width Fe
  SwigluParams shared;                // width Fs; unused when Fs == 0
};

// What the block computes with: every matrix as a Linear map (plain fp32, or a frozen, possibly
// quantized base with a LoRA adapter), each carrying its own gradient. Built once at bind time.
struct SwigluLinears {
  Linear gate, up, down;  // (F, D), (F, D), (D, F)
};
struct MoeWeights {
  Linear router;                        // (X, D)
  std::vector<SwigluLinears> experts;   // X
  SwigluLinears shared;                 // only when Fs > 0
};
// MoeWeights over raw storage: plain Linear maps; `grad` may be null (forward only).
MoeWeights moe_weights_plain(const MoeParams& w, const MoeParams* grad, const MoeDims& d);

// What the forward saves for the backward. Rows of the grouped buffers ("assignment rows") are
// ordered by expert, then by token: expert e owns rows [offset[e], offset[e+1]).
struct MoeActivations {
  float* probs = nullptr;         // (M, X) router softmax
  std::int32_t* topk = nullptr;   // (M, k) chosen experts, by decreasing probability
  float* gates = nullptr;         // (M, k) gate of each choice (renormalised unless !renormalize)
  std::int32_t* slot_row = nullptr;   // (M, k) assignment row of each choice
  std::int32_t* row_token = nullptr;  // (M·k) token of each assignment row
  std::int32_t* offset = nullptr;     // (X+1) first assignment row of each expert
  float* xg = nullptr;            // (M·k, D) inputs gathered by expert
  float* h_gate = nullptr;        // (M·k, Fe) x·gateᵀ
  float* h_up = nullptr;          // (M·k, Fe) x·upᵀ
  float* h = nullptr;             // (M·k, Fe) silu(h_gate) ⊙ h_up
  float* y = nullptr;             // (M·k, D) expert outputs
  float* s_gate = nullptr;        // (M, Fs) shared expert, as above
  float* s_up = nullptr;          // (M, Fs)
  float* s_h = nullptr;           // (M, Fs)
};

// Backward temporaries.
struct MoeScratch {
  float* dy = nullptr;      // (M·k, D) gate-weighted output gradient per assignment row
  float* dh = nullptr;      // (M·k, Fe)
  float* dh_gate = nullptr; // (M·k, Fe)
  float* dh_up = nullptr;   // (M·k, Fe)
  float* dxg = nullptr;     // (M·k, D)
  float* dprobs = nullptr;  // (M, X), then d(logits) in place
  float* dgates = nullptr;  // (M, k)
  float* ds_h = nullptr;    // (M, Fs)
  float* ds_gate = nullptr; // (M, Fs)
  float* ds_up = nullptr;   // (M, Fs)
};

// Named buffer sizes in declaration order; `is_int` marks int32 buffers (same size as a float).
struct MoeBufferSpec {
  const char* name;
  std::size_t elems;
  bool is_int = false;
};
std::vector<MoeBufferSpec> moe_param_specs(const MoeDims& d);  // docs/model.md names after "moe."
std::vector<MoeBufferSpec> moe_activation_specs(const MoeDims& d);
std::vector<MoeBufferSpec> moe_scratch_specs(const MoeDims& d);
// Point the views, in spec order, at consecutive blocks of `base` (4-byte elements; int buffers
// are reinterpreted). Return the elements used.
std::size_t moe_point_params(MoeParams* p, float* base, const MoeDims& d);
std::size_t moe_point_activations(MoeActivations* a, float* base, const MoeDims& d);
std::size_t moe_point_scratch(MoeScratch* s, float* base, const MoeDims& d);

// out (M, D) += moe(x), x (M, D). Fills `act`; returns the unweighted aux loss X·Σ f_e·P_e.
float moe_block_forward(float* out, const MoeActivations& act, const float* x, const MoeWeights& w,
                        const MoeDims& d);

// Accumulates dx (M, D) (skipped when null) and the gradients of every Linear in `w`, given dout
// (M, D) and aux_grad = dL/d(aux).
void moe_block_backward(float* dx, const float* dout, const float* x, float aux_grad,
                        const MoeActivations& act, const MoeWeights& w, const MoeScratch& scratch,
                        const MoeDims& d);

// Matmul-class FLOPs of one forward: router, the k active experts per token, the shared expert.
double moe_block_forward_flops(const MoeDims& d);

// Assignments per expert in the last forward: offset[e+1] − offset[e].
void moe_expert_counts(const MoeActivations& act, const MoeDims& d, std::int64_t* counts);

}  // namespace trainer
