// SSM kernels (see ssm_kernels.h): causal depthwise conv1d and the selective scan, forward and
// backward. The scan walks time sequentially for a block of kW channels at once; the inner loops
// run over those channels (one AVX2 vector) for each state index, so the state of a block sits in
// L1 and every exp/FMA is a full-width vector operation. Threads split batch × channel blocks.
// Float compares may not trap here, so GCC can if-convert fast_exp's clamps and vectorize it
// (the default -ftrapping-math keeps them as branches).
#pragma GCC optimize("no-trapping-math")

#include "trainer/ssm_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/ssm_math.h"

namespace trainer {
namespace {

constexpr int kW = 8;            // channels per scan block (one AVX2 vector of floats)
constexpr int kScanGroups = 16;  // max channel groups in the backward (bounds the scratch)

int scan_blocks(int Di) { return (Di + kW - 1) / kW; }
int scan_groups(int Di) { return std::min(kScanGroups, scan_blocks(Di)); }

// Loads n (<= kW) floats, zero-padding the rest of the vector.
inline void load_block(float* dst, const float* src, int n) {
  if (n == kW) {
    std::memcpy(dst, src, sizeof(float) * kW);
  } else {
    for (int j = 0; j < kW; ++j) dst[j] = j < n ? src[j] : 0.0f;
  }
}

inline void store_block(float* dst, const float* src, int n) {
  std::memcpy(dst, src, sizeof(float) * n);
}

// A = −exp(A_log) for channels [d0, d0+nd), transposed to (N, kW); padded channels get A = −1.
void load_A(float* A, const float* A_log, int d0, int nd, int N) {
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < kW; ++j) A[n * kW + j] = j < nd ? -std::exp(A_log[(d0 + j) * N + n]) : -1.0f;
}

}  // namespace

// ----------------------------------------------------------------------------------------------
// causal depthwise conv1d

void ssm_conv_forward(float* pre, float* act, const float* x, int ldx, const float* history,
                      const float* weight, const float* bias, int B, int T, int Di, int K) {
#pragma omp parallel for schedule(static)
  for (int bt = 0; bt < B * T; ++bt) {
    const int b = bt / T, t = bt % T;
    float* p = pre + static_cast<std::size_t>(bt) * Di;
    for (int d = 0; d < Di; ++d) p[d] = bias[d];
    for (int j = 0; j < K; ++j) {
      const int s = t - K + 1 + j;  // source position
      const float* src;
      if (s >= 0) {
        src = x + static_cast<std::size_t>(b * T + s) * ldx;
      } else if (history != nullptr) {
        src = history + (static_cast<std::size_t>(b) * (K - 1) + (K - 1 + s)) * Di;
      } else {
        continue;
      }
      for (int d = 0; d < Di; ++d) p[d] += weight[d * K + j] * src[d];
    }
    float* a = act + static_cast<std::size_t>(bt) * Di;
    for (int d = 0; d < Di; ++d) a[d] = fast_silu(p[d]);
  }
}

void ssm_conv_backward(float* dx, int lddx, float* dweight, float* dbias, float* dact,
                       const float* pre, const float* x, int ldx, const float* weight, int B, int T,
                       int Di, int K) {
  const std::size_t rows = static_cast<std::size_t>(B) * T;
#pragma omp parallel
  {
    // d(pre) = d(act) · silu'(pre), in place.
#pragma omp for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      float* g = dact + r * Di;
      const float* p = pre + r * Di;
      for (int d = 0; d < Di; ++d) g[d] *= fast_silu_grad(p[d]);
    }
    // dx[b,s,d] += Σ_j w[d,j] · dpre[b, s+K-1-j, d]   (rows are independent).
#pragma omp for schedule(static)
    for (std::size_t r = 0; r < rows; ++r) {
      const int b = static_cast<int>(r / T), s = static_cast<int>(r % T);
      float* out = dx + r * lddx;
      for (int j = 0; j < K; ++j) {
        const int t = s + K - 1 - j;
        if (t >= T) continue;
        const float* g = dact + static_cast<std::size_t>(b * T + t) * Di;
        for (int d = 0; d < Di; ++d) out[d] += weight[d * K + j] * g[d];
      }
    }
    // dweight, dbias: reductions over (b, t), split by channel chunks so nothing races. Null
    // pointers (frozen weights) skip their part.
    constexpr int kChunk = 16;
    const int chunks = (dweight || dbias) ? (Di + kChunk - 1) / kChunk : 0;
#pragma omp for schedule(static)
    for (int c = 0; c < chunks; ++c) {
      const int d0 = c * kChunk, d1 = std::min(Di, d0 + kChunk);
      float dw[kChunk * 16];  // (kChunk, K) for K <= 16, else accumulate directly
      float db[kChunk] = {};
      const bool local = K <= 16;
      if (local) std::fill(dw, dw + kChunk * K, 0.0f);
      for (int b = 0; b < B; ++b) {
        for (int t = 0; t < T; ++t) {
          const float* g = dact + static_cast<std::size_t>(b * T + t) * Di;
          for (int d = d0; d < d1; ++d) db[d - d0] += g[d];
          for (int j = 0; j < K && dweight; ++j) {
            const int s = t - K + 1 + j;
            if (s < 0) continue;
            const float* src = x + static_cast<std::size_t>(b * T + s) * ldx;
            if (local) {
              for (int d = d0; d < d1; ++d) dw[(d - d0) * K + j] += g[d] * src[d];
            } else {
              for (int d = d0; d < d1; ++d) dweight[d * K + j] += g[d] * src[d];
            }
          }
        }
      }
      for (int d = d0; d < d1; ++d) {
        if (dbias) dbias[d] += db[d - d0];
        if (local && dweight)
          for (int j = 0; j < K; ++j) dweight[d * K + j] += dw[(d - d0) * K + j];
      }
    }
  }
}

void ssm_conv_update_history(float* history, const float* x, int ldx, int B, int T, int Di, int K) {
  const int H = K - 1;
  for (int b = 0; b < B; ++b) {
    float* h = history + static_cast<std::size_t>(b) * H * Di;
    // Row i of the new history is position T-H+i: from x when >= 0, else an older history row
    // (i+T < H, read before it is overwritten since i ascends).
    for (int i = 0; i < H; ++i) {
      const int s = T - H + i;
      const float* src = s >= 0 ? x + static_cast<std::size_t>(b * T + s) * ldx : h + (i + T) * Di;
      std::memmove(h + static_cast<std::size_t>(i) * Di, src, sizeof(float) * Di);
    }
  }
}

// ----------------------------------------------------------------------------------------------
// selective scan

void ssm_scan_forward(float* y, float* state_out, const float* u, const float* dt, const float* A_log,
                      const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                      const float* state_in, int B, int T, int Di, int N) {
  CHECK(N <= kSsmMaxState);
  const int nblocks = scan_blocks(Di);
#pragma omp parallel for schedule(static)
  for (int task = 0; task < B * nblocks; ++task) {
    const int b = task / nblocks, d0 = (task % nblocks) * kW, nd = std::min(kW, Di - d0);
    alignas(32) float A[kSsmMaxState * kW];
    alignas(32) float s[kSsmMaxState * kW];
    load_A(A, A_log, d0, nd, N);
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < kW; ++j)
        s[n * kW + j] = (state_in && j < nd) ? state_in[(static_cast<std::size_t>(b) * Di + d0 + j) * N + n] : 0.0f;
    alignas(32) float Dk[kW];
    load_block(Dk, Dskip + d0, nd);
    for (int t = 0; t < T; ++t) {
      const std::size_t row = static_cast<std::size_t>(b) * T + t;
      alignas(32) float dt8[kW], u8[kW], dtu[kW], y8[kW];
      load_block(dt8, dt + row * Di + d0, nd);
      load_block(u8, u + row * Di + d0, nd);
      for (int j = 0; j < kW; ++j) {
        dtu[j] = dt8[j] * u8[j];
        y8[j] = Dk[j] * u8[j];
      }
      const float* Bt = Bm + row * ldbc;
      const float* Ct = Cm + row * ldbc;
      for (int n = 0; n < N; ++n) {
        const float bn = Bt[n], cn = Ct[n];
        float* sn = s + n * kW;
        const float* an = A + n * kW;
#pragma omp simd
        for (int j = 0; j < kW; ++j) {
          const float a = fast_exp(dt8[j] * an[j]);
          sn[j] = a * sn[j] + dtu[j] * bn;
          y8[j] += sn[j] * cn;
        }
      }
      store_block(y + row * Di + d0, y8, nd);
    }
    if (state_out) {
      for (int j = 0; j < nd; ++j)
        for (int n = 0; n < N; ++n)
          state_out[(static_cast<std::size_t>(b) * Di + d0 + j) * N + n] = s[n * kW + j];
    }
  }
}

std::size_t ssm_scan_backward_scratch_floats(int B, int T, int Di, int N) {
  const std::size_t G = scan_groups(Di);
  return G * (static_cast<std::size_t>(T) * N * kW + 2 * static_cast<std::size_t>(B) * T * N);
}

void ssm_scan_backward(float* du, float* ddt, float* dA_log, float* dBm, float* dCm, float* dD,
                       const float* dy, const float* u, const float* dt, const float* A_log,
                       const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                       float* scratch, int B, int T, int Di, int N) {
  CHECK(N <= kSsmMaxState);
  const int nblocks = scan_blocks(Di), G = scan_groups(Di);
  const std::size_t states_floats = static_cast<std::size_t>(T) * N * kW;
  const std::size_t part_floats = static_cast<std::size_t>(B) * T * N;  // one of dB / dC per group
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int grp = 0; grp < G; ++grp) {
      float* S = scratch + grp * states_floats;                        // (T, N, kW) states
      float* dBp = scratch + G * states_floats + grp * 2 * part_floats;  // (B, T, N)
      float* dCp = dBp + part_floats;                                   // (B, T, N)
      std::fill(dBp, dBp + 2 * part_floats, 0.0f);
      const int blk0 = grp * nblocks / G, blk1 = (grp + 1) * nblocks / G;
      for (int blk = blk0; blk < blk1; ++blk) {
        const int d0 = blk * kW, nd = std::min(kW, Di - d0);
        alignas(32) float A[kSsmMaxState * kW];
        alignas(32) float g[kSsmMaxState * kW];      // dL/ds carried backwards in time
        alignas(32) float dAacc[kSsmMaxState * kW];  // Σ da·a·dt, becomes dA_log
        load_A(A, A_log, d0, nd, N);
        std::fill(dAacc, dAacc + N * kW, 0.0f);
        alignas(32) float Dk[kW], dD8[kW] = {};
        load_block(Dk, Dskip + d0, nd);
        for (int b = 0; b < B; ++b) {
          // Forward again, keeping every state.
          std::fill(g, g + N * kW, 0.0f);  // g doubles as the running state here
          for (int t = 0; t < T; ++t) {
            const std::size_t row = static_cast<std::size_t>(b) * T + t;
            alignas(32) float dt8[kW], u8[kW], dtu[kW];
            load_block(dt8, dt + row * Di + d0, nd);
            load_block(u8, u + row * Di + d0, nd);
            for (int j = 0; j < kW; ++j) dtu[j] = dt8[j] * u8[j];
            const float* Bt = Bm + row * ldbc;
            float* St = S + static_cast<std::size_t>(t) * N * kW;
            for (int n = 0; n < N; ++n) {
              const float bn = Bt[n];
              float* __restrict sn = g + n * kW;
              float* __restrict stn = St + n * kW;
              const float* an = A + n * kW;
#pragma omp simd
              for (int j = 0; j < kW; ++j) {
                const float v = fast_exp(dt8[j] * an[j]) * sn[j] + dtu[j] * bn;
                sn[j] = v;
                stn[j] = v;
              }
            }
          }
          // Reverse: g = dL/ds[t] (from y[t] and from s[t+1]).
          std::fill(g, g + N * kW, 0.0f);
          for (int t = T - 1; t >= 0; --t) {
            const std::size_t row = static_cast<std::size_t>(b) * T + t;
            alignas(32) float dt8[kW], u8[kW], dy8[kW], du8[kW], ddt8[kW] = {};
            load_block(dt8, dt + row * Di + d0, nd);
            load_block(u8, u + row * Di + d0, nd);
            load_block(dy8, dy + row * Di + d0, nd);
            for (int j = 0; j < kW; ++j) {
              du8[j] = dy8[j] * Dk[j];
              dD8[j] += dy8[j] * u8[j];
            }
            const float* Bt = Bm + row * ldbc;
            const float* Ct = Cm + row * ldbc;
            const float* St = S + static_cast<std::size_t>(t) * N * kW;
            const float* Sp = t > 0 ? St - N * kW : nullptr;
            float* dBt = dBp + row * N;
            float* dCt = dCp + row * N;
            for (int n = 0; n < N; ++n) {
              const float bn = Bt[n], cn = Ct[n];
              const float* an = A + n * kW;
              float* gn = g + n * kW;
              float* dan = dAacc + n * kW;
              alignas(32) float sp[kW];
              if (Sp) {
                std::memcpy(sp, Sp + n * kW, sizeof(sp));
              } else {
                std::fill(sp, sp + kW, 0.0f);
              }
              float dbn = 0.0f, dcn = 0.0f;
#pragma omp simd reduction(+ : dbn, dcn)
              for (int j = 0; j < kW; ++j) {
                const float a = fast_exp(dt8[j] * an[j]);
                const float gj = gn[j] + dy8[j] * cn;
                dcn += dy8[j] * St[n * kW + j];
                const float daa = gj * sp[j] * a;  // dL/da · a
                dan[j] += daa * dt8[j];
                ddt8[j] += daa * an[j] + gj * u8[j] * bn;
                du8[j] += gj * dt8[j] * bn;
                dbn += gj * dt8[j] * u8[j];
                gn[j] = a * gj;
              }
              dBt[n] += dbn;
              dCt[n] += dcn;
            }
            float* dup = du + row * Di + d0;
            float* ddtp = ddt + row * Di + d0;
            for (int j = 0; j < nd; ++j) {
              dup[j] += du8[j];
              ddtp[j] += ddt8[j];
            }
          }
        }
        // dA_log = dA · dA/dA_log = dA · A.
        for (int j = 0; j < nd; ++j) {
          if (dD) dD[d0 + j] += dD8[j];
          if (dA_log)
            for (int n = 0; n < N; ++n) dA_log[(d0 + j) * N + n] += dAacc[n * kW + j] * A[n * kW + j];
        }
      }
    }
    // Sum the groups' partial dB, dC into the strided outputs.
#pragma omp for schedule(static)
    for (int bt = 0; bt < B * T; ++bt) {
      float* db = dBm + static_cast<std::size_t>(bt) * ldbc;
      float* dc = dCm + static_cast<std::size_t>(bt) * ldbc;
      for (int grp = 0; grp < G; ++grp) {
        const float* dBp = scratch + G * states_floats + grp * 2 * part_floats + static_cast<std::size_t>(bt) * N;
        const float* dCp = dBp + part_floats;
        for (int n = 0; n < N; ++n) {
          db[n] += dBp[n];
          dc[n] += dCp[n];
        }
      }
    }
  }
}

void ssm_scan_forward_reference(float* y, float* state_out, const float* u, const float* dt,
                                const float* A_log, const float* Bm, const float* Cm, int ldbc,
                                const float* Dskip, const float* state_in, int B, int T, int Di, int N) {
  for (int b = 0; b < B; ++b) {
    for (int d = 0; d < Di; ++d) {
      float s[kSsmMaxState];
      for (int n = 0; n < N; ++n) s[n] = state_in ? state_in[(static_cast<std::size_t>(b) * Di + d) * N + n] : 0.0f;
      for (int t = 0; t < T; ++t) {
        const std::size_t row = static_cast<std::size_t>(b) * T + t;
        const float dtv = dt[row * Di + d], uv = u[row * Di + d];
        float acc = Dskip[d] * uv;
        for (int n = 0; n < N; ++n) {
          const float a = std::exp(-dtv * std::exp(A_log[d * N + n]));
          s[n] = a * s[n] + dtv * uv * Bm[row * ldbc + n];
          acc += s[n] * Cm[row * ldbc + n];
        }
        y[row * Di + d] = acc;
      }
      if (state_out)
        for (int n = 0; n < N; ++n) state_out[(static_cast<std::size_t>(b) * Di + d) * N + n] = s[n];
    }
  }
}

}  // namespace trainer
