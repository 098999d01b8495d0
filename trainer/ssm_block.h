// The SSM sub-layer (Mamba-1, docs/model.md "ssm") as free functions over non-owning views:
// forward, backward, the recurrent state for step-by-step generation, and the special init.
// Input is the already normalised x (B, T, D); the norm and the residual belong to the caller.
// Not here: tensor allocation (the caller points these views into its arenas) and the scan
// itself (ssm_kernels.h). Letters: B batch, T sequence, D d_model, Di inner, N state, R dt rank,
// K conv width; M = B·T rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer {

struct ModelConfig;

struct SsmDims {
  int B = 0, T = 0, D = 0, Di = 0, N = 0, R = 0, K = 0;
  int rows() const { return B * T; }
  int dbc_width() const { return R + 2 * N; }
};
SsmDims ssm_dims(const ModelConfig& config, int B, int T);

// Weights, or their gradients (same shapes).
struct SsmParams {
  float* in_proj = nullptr;   // (2Di, D)
  float* conv_w = nullptr;    // (Di, K)
  float* conv_b = nullptr;    // (Di)
  float* x_proj = nullptr;    // (R+2N, Di)
  float* dt_proj = nullptr;   // (Di, R)
  float* dt_bias = nullptr;   // (Di)
  float* A_log = nullptr;     // (Di, N)
  float* D = nullptr;         // (Di)
  float* out_proj = nullptr;  // (D, Di)
};

// What the forward saves for the backward (all (B, T, ·)).
struct SsmActivations {
  float* xz = nullptr;        // (B, T, 2Di) in_proj output: x_in | z
  float* conv_pre = nullptr;  // (B, T, Di) conv output before SiLU
  float* xc = nullptr;        // (B, T, Di) silu(conv), the scan input u
  float* dbc = nullptr;       // (B, T, R+2N) x_proj output: dt_low | Bm | Cm
  float* dt = nullptr;        // (B, T, Di) softplus(dt_low·dt_projᵀ + dt_bias)
  float* y = nullptr;         // (B, T, Di) scan output
  float* gated = nullptr;     // (B, T, Di) y ⊙ silu(z), the out_proj input
};

// Backward temporaries (contents are garbage between calls).
struct SsmScratch {
  float* dgated = nullptr;    // (B, T, Di), then dy in place
  float* dxz = nullptr;       // (B, T, 2Di)
  float* dxc = nullptr;       // (B, T, Di)
  float* ddt = nullptr;       // (B, T, Di)
  float* ddbc = nullptr;      // (B, T, R+2N)
  float* scan = nullptr;      // ssm_scan_backward_scratch_floats(B, T, Di, N)
};

// Generation state of one SSM layer for B sequences; zero it to start a sequence.
struct SsmState {
  float* conv = nullptr;      // (B, K-1, Di) last K-1 conv inputs
  float* ssm = nullptr;       // (B, Di, N) scan state after the last token
};

// One named buffer of a view struct, in declaration order (for layouts and tests).
struct SsmBufferSpec {
  const char* name;
  std::size_t floats;
};
inline constexpr int kSsmParamCount = 9;
inline constexpr int kSsmActivationCount = 7;
inline constexpr int kSsmScratchCount = 6;
inline constexpr int kSsmStateCount = 2;
// Names follow docs/model.md without the "blocks.{i}.ssm." prefix ("in_proj.weight", "A_log").
void ssm_param_specs(const SsmDims& d, SsmBufferSpec out[kSsmParamCount]);
void ssm_activation_specs(const SsmDims& d, SsmBufferSpec out[kSsmActivationCount]);
void ssm_scratch_specs(const SsmDims& d, SsmBufferSpec out[kSsmScratchCount]);
void ssm_state_specs(const SsmDims& d, SsmBufferSpec out[kSsmStateCount]);
// Point a view struct's fields, in spec order, at consecutive blocks of `base` (which must hold
// the sum of the specs' floats). Return the floats used.
std::size_t ssm_point_params(SsmParams* p, float* base, const SsmDims& d);
std::size_t ssm_point_activations(SsmActivations* a, float* base, const SsmDims& d);
std::size_t ssm_point_scratch(SsmScratch* s, float* base, const SsmDims& d);
std::size_t ssm_point_state(SsmState* s, float* base, const SsmDims& d);

// out (B, T, D) += ssm(x), x (B, T, D) normalised input. Fills `act`. With `state` non-null the
// sequence continues from it (conv history and scan state) and the state is advanced past the T
// tokens; with null it starts from zeros (training).
void ssm_block_forward(float* out, const SsmActivations& act, const float* x, const SsmParams& w,
                       SsmState* state, const SsmDims& d);

// Backward of a stateless ssm_block_forward. Accumulates dx (B, T, D) and every gradient in `grad`.
void ssm_block_backward(float* dx, const SsmParams& grad, const float* dout, const float* x,
                        const SsmActivations& act, const SsmParams& w, const SsmScratch& scratch,
                        const SsmDims& d);

// docs/model.md init for the SSM-specific tensors: A_log[d,n] = log(n+1), D = 1, conv.bias = 0,
// dt_bias = softplus⁻¹(dt) with dt log-uniform in [0.001, 0.1] drawn from `seed`. The other
// weights are left to the caller's normal init.
void ssm_init_special(const SsmParams& p, const SsmDims& d, std::uint64_t seed);

}  // namespace trainer
