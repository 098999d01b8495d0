// The engine's ops, llm.c style: <op>_forward(out..., in..., weights..., dims) and
// <op>_backward(dinp..., dweight..., dout, saved..., weights..., dims). Backward ACCUMULATES (+=)
// into its gradient outputs unless a comment says "in place". fp32, row-major, parallel with OpenMP
// (matrix products through OpenBLAS, which shares the same OpenMP pool). Pure functions of their
// arguments: no allocation, no global state.
//
// Letters: N rows (= B*T), B batch, T sequence, C channels, I/O in/out features of a linear map,
// V vocabulary, H query heads, Hkv KV heads, Dh head dim, F hidden width.
#pragma once

#include <cstdint>

namespace trainer {

// ---- linear: out = inp · weightᵀ (+ out when accumulate), weight (O, I) as nn.Linear ----
void matmul_forward(float* out,          // (N, O)
                    const float* inp,    // (N, I)
                    const float* weight, // (O, I)
                    int N, int I, int O, bool accumulate);
// dinp (N, I) += dout · weight (skipped when dinp is null); dweight (O, I) += doutᵀ · inp
// (skipped when dweight is null).
void matmul_backward(float* dinp, float* dweight, const float* dout /*(N, O)*/, const float* inp /*(N, I)*/,
                     const float* weight /*(O, I)*/, int N, int I, int O);

// ---- embedding: out[n] = table[tokens[n]] ----
void embedding_forward(float* out /*(N, C)*/, const int32_t* tokens /*(N)*/, const float* table /*(V, C)*/,
                       int N, int C);
void embedding_backward(float* dtable /*(V, C)*/, const float* dout /*(N, C)*/, const int32_t* tokens /*(N)*/,
                        int N, int C);

// ---- RMSNorm: out = inp * rstd * weight, rstd = 1/sqrt(mean(inp²) + eps) (saved for backward) ----
void rmsnorm_forward(float* out /*(N, C)*/, float* rstd /*(N)*/, const float* inp /*(N, C)*/,
                     const float* weight /*(C)*/, int N, int C, float eps);
void rmsnorm_backward(float* dinp /*(N, C)*/, float* dweight /*(C)*/, const float* dout /*(N, C)*/,
                      const float* inp /*(N, C)*/, const float* rstd /*(N)*/, const float* weight /*(C)*/,
                      int N, int C);

// ---- RoPE, rotate-half (GPT-NeoX / Llama): see docs/model.md ----
// Llama-3.1 frequency scaling (Hugging Face rope_type "llama3"); factor 0 = off. With wavelength
// w = 2π/f of a frequency f and L = original_context: w < L/high_freq_factor keeps f, w > L/low_freq_factor
// gives f/factor, between them f·((1 - s)/factor + s) with s = (L/w - low_freq_factor)/(high - low).
struct RopeScaling {
  float factor = 0.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_context = 8192;
};
// The inverse frequency f_i = theta^(-2i/Dh) of pair i < Dh/2, scaled as above (in double). The one
// source of RoPE angles: the tables of training and the rows of generation both come from it.
double rope_inv_freq(int i, int Dh, float theta, const RopeScaling& scaling = {});
// Tables: cos[t][i] = cos(t * f_i), likewise sin; (T, Dh/2).
void rope_tables(float* cos_table /*(T, Dh/2)*/, float* sin_table /*(T, Dh/2)*/, int T, int Dh, float theta,
                 const RopeScaling& scaling = {});
// One row of those tables: the angles of position `pos` (the decode step of generation).
void rope_row(float* cos_row /*(Dh/2)*/, float* sin_row /*(Dh/2)*/, int pos, int Dh, float theta,
              const RopeScaling& scaling = {});
// In place on x (B, T, nh, Dh): rotates each head vector by its position's angles. positions (B, T)
// gives each token's position (a row of the tables, so < the tables' length); null = t. Partial
// rotary (Bamba): only the first `rot` dims of each head rotate (pairs i, i + rot/2), with tables
// made for a head of `rot` dims, (T, rot/2); the rest pass unchanged. rot 0 = Dh.
void rope_forward(float* x, const float* cos_table, const float* sin_table, int B, int T, int nh, int Dh,
                  const int32_t* positions = nullptr, int rot = 0);
// In place on dx (B, T, nh, Dh): turns dL/d(rotated) into dL/d(unrotated) (the inverse rotation).
void rope_backward(float* dx, const float* cos_table, const float* sin_table, int B, int T, int nh, int Dh,
                   const int32_t* positions = nullptr, int rot = 0);

// ---- causal self-attention with grouped KV heads and an optional sliding window ----
// Query head h reads KV head h / (H / Hkv). Token t sees s with t - window < s <= t (window 0: s <= t),
// and, with packed rows, doc_start[b, t] <= s: doc_start (B, T) is the index within its row of the
// first token of t's document (non-decreasing along a row, <= t); null = 0 (one document per row).
// q (B, T, H*Dh), k and v (B, T, Hkv*Dh), out (B, T, H*Dh) overwritten,
// probs (B, H, T, T) the softmax weights (zero outside the mask), saved for backward.
void attention_forward(float* out, float* probs, const float* q, const float* k, const float* v,
                       int B, int T, int H, int Hkv, int Dh, int window, const int32_t* doc_start = nullptr);
// dq, dk, dv += gradients. probs is consumed (overwritten with dL/dscores). scratch (threads, T, T).
void attention_backward(float* dq, float* dk, float* dv, float* probs, float* scratch, int scratch_threads,
                        const float* dout, const float* q, const float* k, const float* v,
                        int B, int T, int H, int Hkv, int Dh, int window, const int32_t* doc_start = nullptr);

// ---- SwiGLU: h = silu(gate) * up (elementwise over n values) ----
void swiglu_forward(float* h, const float* gate, const float* up, int64_t n);
void swiglu_backward(float* dgate, float* dup, const float* dh, const float* gate, const float* up, int64_t n);

// ---- cross-entropy with fused softmax ----
// lse (N) = logsumexp of each row (saved); returns the SUM over rows of -log softmax(logits)[target].
// A negative target (kIgnoreTarget) is not trained: its row adds nothing.
double crossentropy_forward(float* lse /*(N)*/, const float* logits /*(N, V)*/, const int32_t* targets /*(N)*/,
                            int N, int V);
// How many of targets (N) are trained (>= 0).
int64_t count_trained_targets(const int32_t* targets, int64_t N);
// In place: logits (N, V) becomes scale * (softmax(logits) - onehot(target)), i.e. dL/dlogits for
// L = scale * sum of row losses; rows with a negative target become 0. Uses the lse of the forward.
void crossentropy_backward_inplace(float* logits, const float* lse, const int32_t* targets, int N, int V,
                                   float scale);

// ---- bias: x (N, C) += bias (C) on every row; dbias (C) += column sums of dout (N, C) ----
void bias_forward(float* x, const float* bias, int N, int C);
void bias_backward(float* dbias, const float* dout, int N, int C);

// ---- elementwise helpers ----
void add_inplace(float* a, const float* b, int64_t n);       // a += b
void copy_floats(float* dst, const float* src, int64_t n);   // dst = src (parallel memcpy)
void zero_floats(float* dst, int64_t n);                     // dst = 0 (parallel memset)

}  // namespace trainer
