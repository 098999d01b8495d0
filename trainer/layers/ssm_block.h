// The SSM sub-layer (Mamba-1, docs/model.md "ssm") as free functions over non-owning views:
// forward, backward, the recurrent state for step-by-step generation, and the special init.
// Input is the already normalised x (B, T, D); the norm and the residual belong to the caller.
// Not here: tensor allocation (the caller points these views into its arenas) and the scan
// itself (ssm_kernels.h). Letters: B batch, T sequence, D d_model, Di inner, N state, R dt rank,
// K conv width; M = B·T rows. Jamba's variant (dbc_norm) RMS-normalizes the dt, B and C parts of
// x_proj's output, each with its own weight, before they are used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "trainer/layers/linear.h"
#include "trainer/rng.h"

namespace trainer {

struct ModelConfig;

struct SsmDims {
  int B = 0, T = 0, D = 0, Di = 0, N = 0, R = 0, K = 0;
  bool dbc_norm = false;  // RMSNorm on dt_low, B and C (Jamba)
  float eps = 1e-6f;      // its epsilon
  int rows() const { return B * T; }
  int dbc_width() const { return R + 2 * N; }
};
SsmDims ssm_dims(const ModelConfig& config, int B, int T);

// Raw storage of the nine weights, or of their gradients (same shapes), in docs/model.md order.
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

// What the block computes with: the four projections as Linear maps (plain fp32, or a frozen,
// possibly quantized base with a LoRA adapter; each carries its own gradient), and the other
// weights with their gradients (a null gradient = frozen: it is not computed).
struct SsmWeights {
  Linear in_proj;    // (2Di, D)
  Linear x_proj;     // (R+2N, Di)
  Linear dt_proj;    // (Di, R)
  Linear out_proj;   // (D, Di)
  const float* conv_w = nullptr;   // (Di, K)
  const float* conv_b = nullptr;   // (Di)
  const float* dt_bias = nullptr;  // (Di)
  const float* A_log = nullptr;    // (Di, N)
  const float* D = nullptr;        // (Di)
  float* dconv_w = nullptr;
  float* dconv_b = nullptr;
  float* ddt_bias = nullptr;
  float* dA_log = nullptr;
  float* dD = nullptr;
  // dbc_norm only: the weights of the dt, B and C norms (R, N, N) and their gradients.
  const float* dt_norm = nullptr;
  const float* b_norm = nullptr;
  const float* c_norm = nullptr;
  float* ddt_norm = nullptr;
  float* db_norm = nullptr;
  float* dc_norm = nullptr;
};
// SsmWeights over raw storage: plain Linear maps; `grad` may be null (forward only).
SsmWeights ssm_weights_plain(const SsmParams& w, const SsmParams* grad, const SsmDims& d);

// What the forward saves for the backward (all (B, T, ·)).
struct SsmActivations {
  float* xz = nullptr;        // (B, T, 2Di) in_proj output: x_in | z
  float* conv_pre = nullptr;  // (B, T, Di) conv output before SiLU
  float* xc = nullptr;        // (B, T, Di) silu(conv), the scan input u
  float* dbc = nullptr;       // (B, T, R+2N) x_proj output: dt_low | Bm | Cm (normalized with dbc_norm)
  float* dt_low = nullptr;    // (B, T, R) dbc[..., :R] copied contiguous (dt_proj's input)
  float* dt = nullptr;        // (B, T, Di) softplus(dt_low·dt_projᵀ + dt_bias)
  float* y = nullptr;         // (B, T, Di) scan output
  float* gated = nullptr;     // (B, T, Di) y ⊙ silu(z), the out_proj input
  float* dbc_raw = nullptr;   // (B, T, R+2N) x_proj output before the norms (dbc_norm only; 0 floats else)
};

// Backward temporaries (contents are garbage between calls).
struct SsmScratch {
  float* dgated = nullptr;    // (B, T, Di), then dy in place
  float* dxz = nullptr;       // (B, T, 2Di)
  float* dxc = nullptr;       // (B, T, Di)
  float* ddt = nullptr;       // (B, T, Di)
  float* ddbc = nullptr;      // (B, T, R+2N)
  float* ddt_low = nullptr;   // (B, T, R)
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
inline constexpr int kSsmActivationCount = 9;
inline constexpr int kSsmScratchCount = 7;
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
// tokens; with null it starts from zeros (training). Packed rows: doc_start (B, T) (the index within
// its row of each token's document start, trainer/kernels/ssm.h; null = one document per row) makes
// the conv history and the scan state restart at every document.
void ssm_block_forward(float* out, const SsmActivations& act, const float* x, const SsmWeights& w,
                       SsmState* state, const SsmDims& d, const int32_t* doc_start = nullptr);

// Backward of a stateless ssm_block_forward (with the same doc_start). Accumulates dx (B, T, D)
// (skipped when null) and the gradients of `w` (its Linear maps' and the non-null d* pointers).
void ssm_block_backward(float* dx, const float* dout, const float* x, const SsmActivations& act,
                        const SsmWeights& w, const SsmScratch& scratch, const SsmDims& d,
                        const int32_t* doc_start = nullptr);

// Matmul-class FLOPs of one forward (the four projections; the scan and conv are not counted).
double ssm_block_forward_flops(const SsmDims& d);

// docs/model.md init of the SSM-specific tensors, by local name; false for any other name.
//   A_log[d,n] = log(n+1) (S4D-real); D = 1; conv.bias = 0;
//   dt_proj.bias = softplus⁻¹(dt), dt log-uniform in [0.001, 0.1];
//   conv.weight ~ U(±1/sqrt(K)) (PyTorch Conv1d default, fan-in K for a depthwise conv);
//   dt_proj.weight ~ U(±1/sqrt(R)) (Mamba's "random" dt init with dt_scale 1).
bool ssm_init_tensor(const std::string& local_name, float* data, const SsmDims& d, Rng& rng);

}  // namespace trainer
