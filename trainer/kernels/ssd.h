// The Mamba-2 scan (state-space duality, "SSD"): forward and backward of the selective scan with a
// scalar decay per head, heads of width P sharing B and C by groups. docs/model.md, "mamba2".
// Letters: B batch, T sequence, H heads, P head width (Di = H·P), G groups (head h reads group
// h / (H/G)), N state size, Q chunk length.
//
// Per batch row b and head h, with state S (P, N) from state_in (or 0):
//   a[t] = exp(dt[t]·A), A = −exp(A_log[h])
//   S[t] = a[t]·S[t−1] + dt[t]·x[t] ⊗ Bm[t]          x[t] (P), Bm[t], Cm[t] (N) of h's group
//   y[t] = S[t]·Cm[t] + Dskip[h]·x[t]
// The chunked kernels compute the same thing a chunk of Q tokens at a time: within a chunk as matrix
// products (y = (L ∘ C·Bᵀ)·(dt ⊙ x) with L the causal decay matrix, plus the state entering the
// chunk read through C), and from chunk to chunk a short recurrence of the (P, N) state.
//
// Layouts: x, Bm, Cm are (B, T, ·) rows with one row stride ld (they are slices of the conv output
// xBC = [x (H·P) | B (G·N) | C (G·N)]); dt (B, T, H) is softplus'ed already; y (B, T, H·P);
// A_log, Dskip (H); states (B, H, P, N). Backward functions accumulate (+=) into gradients.
// Packed rows: doc_start (B, T) as in trainer/kernels/ssm.h (null = one document per row): the state
// restarts from 0 at every document start after a row's first token (state_in feeds the first).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer {

struct SsdDims {
  int B = 1, T = 1, H = 1, P = 1, G = 1, N = 1;
  int Q = 64;  // chunk length
  int ld = 0;  // row stride of x, Bm, Cm (and of their gradients)
};

// Chunked forward. state_in / state_out may be null or alias each other (in place).
void ssd_scan_forward(float* y, float* state_out, const float* x, const float* Bm, const float* Cm, const float* dt,
                      const float* A_log, const float* Dskip, const float* state_in, const SsdDims& d,
                      const int32_t* doc_start = nullptr);

// Floats of scratch ssd_scan_backward needs (every chunk's entering state, per-head dB/dC partials).
std::size_t ssd_scan_backward_scratch_floats(const SsdDims& d);

// Chunked backward of ssd_scan_forward from a zero initial state (it recomputes the chunk states).
// Accumulates dx, dBm, dCm (row stride ld; the three may be slices of one dxBC), ddt (B, T, H),
// dA_log and dD (H; either may be null: frozen).
void ssd_scan_backward(float* dx, float* dBm, float* dCm, float* ddt, float* dA_log, float* dD, const float* dy,
                       const float* x, const float* Bm, const float* Cm, const float* dt, const float* A_log,
                       const float* Dskip, float* scratch, const SsdDims& d, const int32_t* doc_start = nullptr);

// Step-by-step references (one token at a time, single-threaded, double accumulation): the
// definition the chunked kernels are tested against. Same contracts (Q is ignored).
void ssd_scan_forward_reference(float* y, float* state_out, const float* x, const float* Bm, const float* Cm,
                                const float* dt, const float* A_log, const float* Dskip, const float* state_in,
                                const SsdDims& d, const int32_t* doc_start = nullptr);
void ssd_scan_backward_reference(float* dx, float* dBm, float* dCm, float* ddt, float* dA_log, float* dD,
                                 const float* dy, const float* x, const float* Bm, const float* Cm, const float* dt,
                                 const float* A_log, const float* Dskip, const SsdDims& d,
                                 const int32_t* doc_start = nullptr);

}  // namespace trainer
