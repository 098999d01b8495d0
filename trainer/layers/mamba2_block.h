// The `mamba2` sub-layer (the Mamba-2 mixer, docs/model.md "mamba2") as free functions over
// non-owning views: forward, backward and the init of its special weights. Input is the already
// normalised x (B, T, D); the norm and the residual belong to the caller.
//   zxbcdt = x·in_projᵀ  split into z (Di) | xBC (Di + 2GN) | dt_raw (H)
//   xBC = silu(conv(xBC) + conv.bias)           causal depthwise, width K (trainer/kernels/ssm.h)
//   dt = softplus(dt_raw + dt_bias)             (H)
//   y = ssd_scan(x, B, C, dt, A_log, D)         heads of P channels, B/C per group (kernels/ssd.h)
//   g = y ⊙ silu(z);  n = rmsnorm over each of the G groups of Di/G channels, times norm.weight
//   out += n·out_projᵀ
// Letters: B batch, T sequence, D d_model, Di inner, H heads, P head width, G groups, N state,
// K conv width, Cx = Di + 2GN (xBC width), Wi = 2Di + 2GN + H (in_proj rows); M = B·T rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "trainer/layers/linear.h"
#include "trainer/rng.h"

namespace trainer {

struct ModelConfig;

struct Mamba2Dims {
  int B = 0, T = 0, D = 0, Di = 0, H = 0, P = 0, G = 0, N = 0, K = 0, Q = 0;
  float eps = 1e-5f;
  int rows() const { return B * T; }
  int xbc_width() const { return Di + 2 * G * N; }
  int in_width() const { return 2 * Di + 2 * G * N + H; }
};
Mamba2Dims mamba2_dims(const ModelConfig& config, int B, int T);

// The projections as Linear maps and the other weights with their gradients (null = frozen).
struct Mamba2Weights {
  Linear in_proj;                  // (Wi, D)
  Linear out_proj;                 // (D, Di)
  const float* conv_w = nullptr;   // (Cx, K)
  const float* conv_b = nullptr;   // (Cx)
  const float* dt_bias = nullptr;  // (H)
  const float* A_log = nullptr;    // (H)
  const float* D = nullptr;        // (H)
  const float* norm_w = nullptr;   // (Di)
  float* dconv_w = nullptr;
  float* dconv_b = nullptr;
  float* ddt_bias = nullptr;
  float* dA_log = nullptr;
  float* dD = nullptr;
  float* dnorm_w = nullptr;
};

// What the forward saves for the backward (all (B, T, ·)).
struct Mamba2Activations {
  float* zxbcdt = nullptr;    // (M, Wi) in_proj output
  float* conv_pre = nullptr;  // (M, Cx) conv output before SiLU
  float* xbc = nullptr;       // (M, Cx) silu(conv): the scan's x | B | C
  float* dt = nullptr;        // (M, H)
  float* y = nullptr;         // (M, Di) scan output (with the D skip)
  float* gated = nullptr;     // (M, Di) y ⊙ silu(z)
  float* rstd = nullptr;      // (M, G) the group norm's 1/rms
  float* normed = nullptr;    // (M, Di) the out_proj input
};

// Backward temporaries (garbage between calls).
struct Mamba2Scratch {
  float* dnormed = nullptr;  // (M, Di), then d(gated), then dy in place
  float* dzxbcdt = nullptr;  // (M, Wi)
  float* dxbc = nullptr;     // (M, Cx)
  float* ddt = nullptr;      // (M, H)
  float* scan = nullptr;     // ssd_scan_backward_scratch_floats
};

// Generation state for B sequences; zero it to start them.
struct Mamba2State {
  float* conv = nullptr;  // (B, K-1, Cx) last K-1 conv inputs
  float* ssm = nullptr;   // (B, H, P, N)
};

// Named buffers in declaration order (the layer's tensor list, the decoder's storage).
struct Mamba2BufferSpec {
  const char* name;
  std::size_t floats;
};
inline constexpr int kMamba2ActivationCount = 8;
inline constexpr int kMamba2ScratchCount = 5;
void mamba2_activation_specs(const Mamba2Dims& d, Mamba2BufferSpec out[kMamba2ActivationCount]);
void mamba2_scratch_specs(const Mamba2Dims& d, Mamba2BufferSpec out[kMamba2ScratchCount]);
// Point the fields, in spec order, at consecutive blocks of `base`; return the floats used
// (base may be null to only count).
std::size_t mamba2_point_activations(Mamba2Activations* a, float* base, const Mamba2Dims& d);
std::size_t mamba2_point_state(Mamba2State* s, float* base, const Mamba2Dims& d);

// out (B, T, D) += mamba2(x). Fills `act`. With `state` non-null the sequences continue from it
// and it is advanced past the T tokens; null starts from zeros. Packed rows: doc_start (B, T)
// restarts the conv and the scan state at every document (trainer/kernels/ssm.h, ssd.h).
void mamba2_block_forward(float* out, const Mamba2Activations& act, const float* x, const Mamba2Weights& w,
                          Mamba2State* state, const Mamba2Dims& d, const int32_t* doc_start = nullptr);

// Backward of a stateless mamba2_block_forward (same doc_start): dx (B, T, D) += dL/dx (skipped
// when null); the gradients of `w` accumulate.
void mamba2_block_backward(float* dx, const float* dout, const float* x, const Mamba2Activations& act,
                           const Mamba2Weights& w, const Mamba2Scratch& scratch, const Mamba2Dims& d,
                           const int32_t* doc_start = nullptr);

// Matmul-class FLOPs of one forward: the two projections and the scan's chunk products.
double mamba2_block_forward_flops(const Mamba2Dims& d);

// Init of the Mamba-2 specific tensors by local name (Mamba-2's defaults); false for others:
//   A_log[h] = log(A), A ~ U[1, 16];  D = 1;  conv.bias = 0;  norm.weight = 1;
//   dt_bias = softplus⁻¹(dt), dt log-uniform in [0.001, 0.1];  conv.weight ~ U(±1/sqrt(K)).
bool mamba2_init_tensor(const std::string& local_name, float* data, const Mamba2Dims& d, Rng& rng);

}  // namespace trainer
