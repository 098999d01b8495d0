// SSM kernels: the parts of a Mamba-1 layer (docs/model.md, "ssm") that are not matrix products —
// the causal depthwise conv1d and the selective scan — forward and backward side by side, parallel
// with OpenMP. Matrix products (in_proj, x_proj, dt_proj, out_proj) live in ssm_block.cpp.
// Letters: B batch, T sequence, Di inner width, N state size, K conv width. Activations are
// row-major (B, T, channels); where an input is a slice of a wider row (x_in inside xz, Bm and Cm
// inside dbc) its row stride is passed as ld*. Backward functions accumulate (+=) into gradients.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer {

// Largest d_state the scan supports (its per-channel state lives on the stack).
inline constexpr int kSsmMaxState = 256;

// Causal depthwise conv1d, then SiLU:
//   pre[b,t,d] = bias[d] + Σ_j weight[d,j] · x[b, t-K+1+j, d],  act = silu(pre).
// Positions before 0 read `history` (B, K-1, Di) when non-null (the conv state carried between
// generation steps), else 0. x: (B, T, ·) with row stride ldx; weight (Di, K); bias (Di);
// pre, act: (B, T, Di). Packed rows: doc_start (B, T) is the index within its row of the first
// token of each token's document (null = 0); positions before it read 0, so the conv history
// restarts at every document (history is read only by tokens of a row's first document).
void ssm_conv_forward(float* pre, float* act, const float* x, int ldx, const float* history,
                      const float* weight, const float* bias, int B, int T, int Di, int K,
                      const int32_t* doc_start = nullptr);

// Backward of ssm_conv_forward from zero history (and the same doc_start). dact (B, T, Di) is
// overwritten with d(pre). Accumulates dx (row stride lddx), dweight (Di, K) and dbias (Di); a null
// dweight or dbias (a frozen weight) is skipped.
void ssm_conv_backward(float* dx, int lddx, float* dweight, float* dbias, float* dact,
                       const float* pre, const float* x, int ldx, const float* weight, int B, int T,
                       int Di, int K, const int32_t* doc_start = nullptr);

// Moves the last K-1 rows of x (B, T, ·, stride ldx) into history (B, K-1, Di), keeping older rows
// of history when T < K-1: after it, history holds the inputs a next step's conv reads before t=0.
void ssm_conv_update_history(float* history, const float* x, int ldx, int B, int T, int Di, int K);

// Selective scan (Mamba-1), per batch b and channel d, state s (N) from state_in (or 0):
//   a = exp(dt[t]·A), A = −exp(A_log[d]);  s = a ⊙ s + dt[t]·u[t]·Bm[t];  y[t] = s·Cm[t] + Dskip[d]·u[t]
// u, dt, y: (B, T, Di). A_log: (Di, N). Bm, Cm: (B, T, ·) with row stride ldbc, N used.
// Dskip: (Di). state_in / state_out: (B, Di, N), either may be null; they may alias (in place).
// Packed rows: doc_start (B, T) as for the conv (null = one document per row); the state restarts
// from 0 at every document start after a row's first token (state_in feeds the first document).
void ssm_scan_forward(float* y, float* state_out, const float* u, const float* dt, const float* A_log,
                      const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                      const float* state_in, int B, int T, int Di, int N, const int32_t* doc_start = nullptr);

// Floats of scratch ssm_scan_backward needs (states of one channel block, per-group partial dB/dC).
std::size_t ssm_scan_backward_scratch_floats(int B, int T, int Di, int N);

// Backward of ssm_scan_forward from a zero initial state. It recomputes the states (nothing but
// the inputs is saved by the forward). Accumulates du, ddt (B, T, Di), dA_log (Di, N), dBm, dCm
// (row stride ldbc) and dD (Di); dA_log or dD may be null (frozen). scratch:
// ssm_scan_backward_scratch_floats(...) floats.
void ssm_scan_backward(float* du, float* ddt, float* dA_log, float* dBm, float* dCm, float* dD,
                       const float* dy, const float* u, const float* dt, const float* A_log,
                       const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                       float* scratch, int B, int T, int Di, int N, const int32_t* doc_start = nullptr);

// Straightforward single-threaded scan (no blocking, std::exp): the reference the fast kernel and
// the benchmark are validated against. Same contract as ssm_scan_forward.
void ssm_scan_forward_reference(float* y, float* state_out, const float* u, const float* dt,
                                const float* A_log, const float* Bm, const float* Cm, int ldbc,
                                const float* Dskip, const float* state_in, int B, int T, int Di, int N,
                                const int32_t* doc_start = nullptr);

}  // namespace trainer
