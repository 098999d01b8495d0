// The token-moving parts of the MoE sub-layer (docs/model.md "moe"), public so they can be tested
// and timed on their own: router softmax and top-k with renormalised gates, grouping of the
// assignments by expert, dispatch (gather of the inputs by expert), the gated combine, the Switch
// aux loss, and the backward of each. The router's and the experts' products are not here (they
// stay in trainer/layers/moe_block.cpp). Views and letters as in trainer/layers/moe_block.h: M tokens, D d_model,
// X experts, k top-k; "assignment rows" are the M·k rows of the grouped buffers, ordered by expert,
// then by token. All functions are OpenMP-parallel (or serial where noted) and allocate nothing.
#pragma once

#include "trainer/layers/moe_block.h"

namespace trainer {

// Routing. On entry a.probs (M, X) holds the router logits; on return it holds their softmax (in
// place), a.topk (M, k) the k most probable experts of each token by decreasing probability (ties
// to the lower expert index), a.gates (M, k) their probabilities divided by the sum of the k (or the
// probabilities themselves when !d.renormalize, as Jamba), and
// the grouping: a.offset (X+1) with expert e owning rows [offset[e], offset[e+1]), a.row_token
// (M·k) the token of each row, a.slot_row (M, k) the row of each choice. Rows of one expert are in
// increasing token order (counting sort, serial). Requires 1 <= k <= X.
void moe_route(const MoeActivations& a, const MoeDims& d);

// Dispatch: a.xg[r] (D) = x[row_token[r]] for every assignment row r; x (M, D). Needs moe_route.
void moe_dispatch(const MoeActivations& a, const float* x, const MoeDims& d);

// Combine: out[m] (D) += Σ_j gates[m, j] · a.y[slot_row[m, j]], j over the k choices in order;
// out (M, D), a.y (M·k, D) the experts' outputs.
void moe_combine(float* out, const MoeActivations& a, const MoeDims& d);

// The unweighted Switch aux loss X · Σ_e f_e · P_e from a.probs and a.offset (serial, in double):
// f_e = (offset[e+1] − offset[e]) / (M·k), P_e = mean over tokens of probs[:, e].
float moe_aux_loss(const MoeActivations& a, const MoeDims& d);

// Backward of moe_combine given dout (M, D): s.dgates[m, j] = <dout[m], y[slot_row[m, j]]> and
// s.dy[slot_row[m, j]] = gates[m, j] · dout[m] (both overwritten, every row written once).
void moe_combine_backward(const float* dout, const MoeActivations& a, const MoeScratch& s, const MoeDims& d);

// Backward of moe_route given s.dgates (M, k) and aux_grad = dL/d(aux): overwrites s.dprobs (M, X)
// with dL/d(logits). Through the renormalisation g_j = p_j / S (S = Σ over the k chosen p):
// dp_j = (dg_j − Σ_i dg_i·g_i) / S (without it, dp_j = dg_j); the aux loss adds aux_grad·X·f_e/M to every dp[m, e] (f_e held
// constant); then the softmax backward dz = p ⊙ (dp − <p, dp>). The choice of experts is constant.
void moe_route_backward(float aux_grad, const MoeActivations& a, const MoeScratch& s, const MoeDims& d);

// Backward of moe_dispatch (its adjoint): dx[m] (D) += Σ_j s.dxg[slot_row[m, j]], j in order;
// dx (M, D), s.dxg (M·k, D). One writer per token, so no races.
void moe_dispatch_backward(float* dx, const MoeActivations& a, const MoeScratch& s, const MoeDims& d);

}  // namespace trainer
