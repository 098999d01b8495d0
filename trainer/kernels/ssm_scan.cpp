// Selective scan of the SSM block (see ssm_kernels.h), forward and backward. The scan walks time
// sequentially for a block of kW = 8 channels of one batch row at once: the state of a block,
// (N, kW), sits in L1 and every operation is one 8-wide vector over the block's channels. Threads
// split the (batch, channel block) pairs. The backward recomputes a block's states and decay
// factors a = exp(Δ·A) going forward (scratch, (T, N, kW) each), then walks back in time.
//
// Three versions of the per-block loops: AVX2+FMA intrinsics (x86-64 with -march supporting them),
// where exp is 2^x with a degree-5 polynomial on the fraction (relative error < 2e-7) and the
// per-timestep reductions over channels (dB, dC) are done eight states at a time by a transposed
// horizontal add; AVX-512 ones (chosen at run time, simd_level.h) that take two states of the block
// per 16-wide vector (the (N, kW) layout puts states n and n+1 side by side), so the scratch and the
// blocks are the AVX2 path's and only the sums over states pair up differently; and portable loops
// GCC vectorizes (other CPUs, and channel blocks narrower than 8).
// Float compares may not trap here, so GCC can if-convert fast_expf's clamps and vectorize it.
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define NS_SCAN_AVX2 1
// GCC 12 warns inside its own AVX-512 headers, whose _mm512_undefined_* initialize a variable with
// itself (-Wmaybe-uninitialized, GCC PR 105593; fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

#include "common/check.h"
#include "trainer/kernels/simd_level.h"
#include "trainer/kernels/simd_math.h"
#include "trainer/kernels/ssm.h"

namespace trainer {
namespace {

constexpr int kW = 8;            // channels per scan block (one AVX2 vector of floats)
constexpr int kScanGroups = 16;  // max channel groups in the backward (bounds the scratch)
constexpr float kLog2e = 1.44269504088896341f;

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

// A = −exp(A_log) for channels [d0, d0+nd), transposed to (N, kW); padded channels get A = −1.
void load_A(float* A, const float* A_log, int d0, int nd, int N) {
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < kW; ++j) A[n * kW + j] = j < nd ? -std::exp(A_log[(d0 + j) * N + n]) : -1.0f;
}

// Where one block's inputs are: rows row0 .. row0+T-1 of (B·T, ·) arrays, channels d0 .. d0+nd-1.
struct BlockView {
  const float* u;
  const float* dt;
  const float* Bm;
  const float* Cm;
  int ldbc, Di, d0, nd, T, N;
  std::size_t row0;
  std::size_t at(int t) const { return (row0 + t) * Di + d0; }
  const float* B_row(int t) const { return Bm + (row0 + t) * ldbc; }
  const float* C_row(int t) const { return Cm + (row0 + t) * ldbc; }
};

// Per-block accumulators of the backward, summed over batch rows.
struct BlockGrads {
  float* dAacc;  // (N, kW): Σ dL/da · a · Δ
  float* dD8;    // (kW)
};

// Outputs of the backward for one block and batch row.
struct BlockOut {
  float* du;   // (B·T, Di)
  float* ddt;  // (B·T, Di)
  float* dBp;  // (T, N) rows of this batch row in the group's partial dB
  float* dCp;  // (T, N)
};

// ---------------------------------------------------------------------------------------------
// portable loops

// s: (N, kW) state in/out; A: (N, kW); Dk: (kW).
void forward_block_portable(float* y, float* s, const float* A, const float* Dk, const BlockView& v) {
  for (int t = 0; t < v.T; ++t) {
    alignas(32) float dt8[kW], u8[kW], dtu[kW], y8[kW];
    load_block(dt8, v.dt + v.at(t), v.nd);
    load_block(u8, v.u + v.at(t), v.nd);
    for (int j = 0; j < kW; ++j) {
      dtu[j] = dt8[j] * u8[j];
      y8[j] = Dk[j] * u8[j];
    }
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    for (int n = 0; n < v.N; ++n) {
      const float bn = Bt[n], cn = Ct[n];
      float* sn = s + n * kW;
      const float* an = A + n * kW;
#pragma omp simd
      for (int j = 0; j < kW; ++j) {
        const float a = fast_expf(dt8[j] * an[j]);
        sn[j] = a * sn[j] + dtu[j] * bn;
        y8[j] += sn[j] * cn;
      }
    }
    std::memcpy(y + v.at(t), y8, sizeof(float) * v.nd);
  }
}

// S, Ea: (T, N, kW) scratch for the states and the decays; g: (N, kW) scratch.
void backward_block_portable(const BlockOut& o, BlockGrads acc, float* S, float* Ea, float* g, const float* A,
                             const float* Dk, const float* dy, const BlockView& v) {
  const int N = v.N;
  std::fill(g, g + N * kW, 0.0f);  // the running state going forward
  for (int t = 0; t < v.T; ++t) {
    alignas(32) float dt8[kW], u8[kW], dtu[kW];
    load_block(dt8, v.dt + v.at(t), v.nd);
    load_block(u8, v.u + v.at(t), v.nd);
    for (int j = 0; j < kW; ++j) dtu[j] = dt8[j] * u8[j];
    const float* Bt = v.B_row(t);
    for (int n = 0; n < N; ++n) {
      const float bn = Bt[n];
      float* __restrict sn = g + n * kW;
      float* __restrict stn = S + (static_cast<std::size_t>(t) * N + n) * kW;
      float* __restrict ean = Ea + (static_cast<std::size_t>(t) * N + n) * kW;
      const float* an = A + n * kW;
#pragma omp simd
      for (int j = 0; j < kW; ++j) {
        const float a = fast_expf(dt8[j] * an[j]);
        const float s1 = a * sn[j] + dtu[j] * bn;
        ean[j] = a;
        sn[j] = s1;
        stn[j] = s1;
      }
    }
  }
  std::fill(g, g + N * kW, 0.0f);  // now dL/ds, carried backwards in time
  for (int t = v.T - 1; t >= 0; --t) {
    alignas(32) float dt8[kW], u8[kW], dy8[kW], du8[kW], ddt8[kW] = {};
    load_block(dt8, v.dt + v.at(t), v.nd);
    load_block(u8, v.u + v.at(t), v.nd);
    load_block(dy8, dy + v.at(t), v.nd);
    for (int j = 0; j < kW; ++j) {
      du8[j] = dy8[j] * Dk[j];
      acc.dD8[j] += dy8[j] * u8[j];
    }
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    const float* St = S + static_cast<std::size_t>(t) * N * kW;
    const float* Et = Ea + static_cast<std::size_t>(t) * N * kW;
    float* dBt = o.dBp + static_cast<std::size_t>(t) * N;
    float* dCt = o.dCp + static_cast<std::size_t>(t) * N;
    for (int n = 0; n < N; ++n) {
      const float bn = Bt[n], cn = Ct[n];
      const float* an = A + n * kW;
      const float* en = Et + n * kW;
      float* gn = g + n * kW;
      float* dan = acc.dAacc + n * kW;
      alignas(32) float sp[kW];
      if (t > 0) {
        std::memcpy(sp, St - N * kW + n * kW, sizeof(sp));
      } else {
        std::fill(sp, sp + kW, 0.0f);
      }
      float dbn = 0.0f, dcn = 0.0f;
#pragma omp simd reduction(+ : dbn, dcn)
      for (int j = 0; j < kW; ++j) {
        const float a = en[j];
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
    float* dup = o.du + v.at(t);
    float* ddtp = o.ddt + v.at(t);
    for (int j = 0; j < v.nd; ++j) {
      dup[j] += du8[j];
      ddtp[j] += ddt8[j];
    }
  }
}

#ifdef NS_SCAN_AVX2
// ---------------------------------------------------------------------------------------------
// AVX2 + FMA loops (full blocks of 8 channels only)

// 2^x for x <= 0: x = n + f with n = round(x), |f| <= 1/2; 2^f by a degree-5 polynomial fitted for
// relative error (< 2e-7 in float), 2^n built in the exponent bits. Clamped at −120 so results stay
// normal floats (2^−120 ≈ 7.5e−37: a decay of exactly 0 and this one are the same to the scan).
inline __m256 exp2_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-120.0f));
  const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(x, n);
  __m256 p = _mm256_set1_ps(0.001326472731307149f);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.009671512991189957f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.05550733581185341f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.24022242426872253f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(0.6931470036506653f));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// The eight sums of the lanes of v[0..7], in order: a transposed horizontal add.
inline __m256 sum_lanes8(const __m256* v) {
  const __m256 t0 = _mm256_hadd_ps(v[0], v[1]), t1 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 t2 = _mm256_hadd_ps(v[4], v[5]), t3 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

inline float sum_lanes(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}

// dst[0..N) += the lane sums of v[0..N).
inline void add_lane_sums(float* dst, const __m256* v, int N) {
  int n = 0;
  for (; n + 8 <= N; n += 8) _mm256_storeu_ps(dst + n, _mm256_add_ps(_mm256_loadu_ps(dst + n), sum_lanes8(v + n)));
  for (; n < N; ++n) dst[n] += sum_lanes(v[n]);
}

// A2 = A·log2(e), (N, kW), so exp(Δ·A) = 2^(Δ·A2).
void forward_block_avx2(float* y, float* s, const float* A2, const float* Dk, const BlockView& v) {
  const __m256 dk = _mm256_loadu_ps(Dk);
  for (int t = 0; t < v.T; ++t) {
    const __m256 dt = _mm256_loadu_ps(v.dt + v.at(t));
    const __m256 u = _mm256_loadu_ps(v.u + v.at(t));
    const __m256 dtu = _mm256_mul_ps(dt, u);
    __m256 yv = _mm256_mul_ps(dk, u);
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    for (int n = 0; n < v.N; ++n) {
      const __m256 a = exp2_nonpositive(_mm256_mul_ps(dt, _mm256_load_ps(A2 + n * kW)));
      const __m256 sn = _mm256_fmadd_ps(a, _mm256_load_ps(s + n * kW), _mm256_mul_ps(dtu, _mm256_set1_ps(Bt[n])));
      _mm256_store_ps(s + n * kW, sn);
      yv = _mm256_fmadd_ps(sn, _mm256_set1_ps(Ct[n]), yv);
    }
    _mm256_storeu_ps(y + v.at(t), yv);
  }
}

// S and Ea live in the caller's scratch, which need not be 32-byte aligned (unaligned loads).
void backward_block_avx2(const BlockOut& o, BlockGrads acc, float* S, float* Ea, float* g, const float* A,
                         const float* A2, const float* Dk, const float* dy, const BlockView& v) {
  const int N = v.N;
  // Forward again: the states and the decays of every step.
  for (int n = 0; n < N; ++n) _mm256_store_ps(g + n * kW, _mm256_setzero_ps());
  for (int t = 0; t < v.T; ++t) {
    const __m256 dt = _mm256_loadu_ps(v.dt + v.at(t));
    const __m256 dtu = _mm256_mul_ps(dt, _mm256_loadu_ps(v.u + v.at(t)));
    const float* Bt = v.B_row(t);
    float* St = S + static_cast<std::size_t>(t) * N * kW;
    float* Et = Ea + static_cast<std::size_t>(t) * N * kW;
    for (int n = 0; n < N; ++n) {
      const __m256 a = exp2_nonpositive(_mm256_mul_ps(dt, _mm256_load_ps(A2 + n * kW)));
      const __m256 sn = _mm256_fmadd_ps(a, _mm256_load_ps(g + n * kW), _mm256_mul_ps(dtu, _mm256_set1_ps(Bt[n])));
      _mm256_store_ps(g + n * kW, sn);
      _mm256_storeu_ps(St + n * kW, sn);
      _mm256_storeu_ps(Et + n * kW, a);
    }
  }
  // Backwards in time; g = dL/ds[t] (from y[t] and from s[t+1]).
  for (int n = 0; n < N; ++n) _mm256_store_ps(g + n * kW, _mm256_setzero_ps());
  const __m256 dk = _mm256_loadu_ps(Dk);
  __m256 dDv = _mm256_loadu_ps(acc.dD8);
  alignas(32) __m256 dbv[kSsmMaxState], dcv[kSsmMaxState];
  for (int t = v.T - 1; t >= 0; --t) {
    const __m256 dt = _mm256_loadu_ps(v.dt + v.at(t));
    const __m256 u = _mm256_loadu_ps(v.u + v.at(t));
    const __m256 dyv = _mm256_loadu_ps(dy + v.at(t));
    const __m256 dtu = _mm256_mul_ps(dt, u);
    __m256 du = _mm256_mul_ps(dyv, dk);
    __m256 ddt = _mm256_setzero_ps();
    dDv = _mm256_fmadd_ps(dyv, u, dDv);
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    const float* St = S + static_cast<std::size_t>(t) * N * kW;
    const float* Et = Ea + static_cast<std::size_t>(t) * N * kW;
    for (int n = 0; n < N; ++n) {
      const __m256 bn = _mm256_set1_ps(Bt[n]);
      const __m256 a = _mm256_loadu_ps(Et + n * kW);
      const __m256 sp = t > 0 ? _mm256_loadu_ps(St - N * kW + n * kW) : _mm256_setzero_ps();
      const __m256 gj = _mm256_fmadd_ps(dyv, _mm256_set1_ps(Ct[n]), _mm256_load_ps(g + n * kW));
      dcv[n] = _mm256_mul_ps(dyv, _mm256_loadu_ps(St + n * kW));
      const __m256 daa = _mm256_mul_ps(_mm256_mul_ps(gj, sp), a);  // dL/da · a
      _mm256_store_ps(acc.dAacc + n * kW, _mm256_fmadd_ps(daa, dt, _mm256_load_ps(acc.dAacc + n * kW)));
      ddt = _mm256_fmadd_ps(daa, _mm256_load_ps(A + n * kW), ddt);
      ddt = _mm256_fmadd_ps(_mm256_mul_ps(gj, u), bn, ddt);
      du = _mm256_fmadd_ps(_mm256_mul_ps(gj, dt), bn, du);
      dbv[n] = _mm256_mul_ps(gj, dtu);
      _mm256_store_ps(g + n * kW, _mm256_mul_ps(a, gj));
    }
    add_lane_sums(o.dBp + static_cast<std::size_t>(t) * N, dbv, N);
    add_lane_sums(o.dCp + static_cast<std::size_t>(t) * N, dcv, N);
    _mm256_storeu_ps(o.du + v.at(t), _mm256_add_ps(_mm256_loadu_ps(o.du + v.at(t)), du));
    _mm256_storeu_ps(o.ddt + v.at(t), _mm256_add_ps(_mm256_loadu_ps(o.ddt + v.at(t)), ddt));
  }
  _mm256_storeu_ps(acc.dD8, dDv);
}

// ---------------------------------------------------------------------------------------------
// AVX-512 loops: states n and n+1 of a full block in one vector (N even). Compiled for AVX-512
// whatever -march says and called only where the CPU has it.
#define NS_SCAN_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

NS_SCAN_AVX512 inline __m512 exp2_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-120.0f));
  const __m512 n = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(x, n);
  __m512 p = _mm512_set1_ps(0.001326472731307149f);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.009671512991189957f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.05550733581185341f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.24022242426872253f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.6931470036506653f));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(p, _mm512_castsi512_ps(e));
}

// An 8-channel vector in both halves.
NS_SCAN_AVX512 inline __m512 twice(__m256 v) { return _mm512_insertf32x8(_mm512_castps256_ps512(v), v, 1); }

// x[n] in the low half, x[n+1] in the high half.
NS_SCAN_AVX512 inline __m512 pair(const float* x, int n) {
  return _mm512_insertf32x8(_mm512_set1_ps(x[n]), _mm256_set1_ps(x[n + 1]), 1);
}

NS_SCAN_AVX512 inline __m256 fold(__m512 v) {
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
}

NS_SCAN_AVX512 void forward_block_avx512(float* y, float* s, const float* A2, const float* Dk, const BlockView& v) {
  const __m256 dk = _mm256_loadu_ps(Dk);
  for (int t = 0; t < v.T; ++t) {
    const __m256 dt8 = _mm256_loadu_ps(v.dt + v.at(t));
    const __m256 u8 = _mm256_loadu_ps(v.u + v.at(t));
    const __m512 dt = twice(dt8), dtu = twice(_mm256_mul_ps(dt8, u8));
    __m512 yv = _mm512_setzero_ps();
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    for (int n = 0; n < v.N; n += 2) {
      const __m512 a = exp2_nonpositive(_mm512_mul_ps(dt, _mm512_loadu_ps(A2 + n * kW)));
      const __m512 sn = _mm512_fmadd_ps(a, _mm512_loadu_ps(s + n * kW), _mm512_mul_ps(dtu, pair(Bt, n)));
      _mm512_storeu_ps(s + n * kW, sn);
      yv = _mm512_fmadd_ps(sn, pair(Ct, n), yv);
    }
    _mm256_storeu_ps(y + v.at(t), _mm256_fmadd_ps(dk, u8, fold(yv)));
  }
}

NS_SCAN_AVX512 void backward_block_avx512(const BlockOut& o, BlockGrads acc, float* S, float* Ea, float* g,
                                          const float* A, const float* A2, const float* Dk, const float* dy,
                                          const BlockView& v) {
  const int N = v.N;
  // Forward again: the states and the decays of every step.
  std::fill(g, g + N * kW, 0.0f);
  for (int t = 0; t < v.T; ++t) {
    const __m256 dt8 = _mm256_loadu_ps(v.dt + v.at(t));
    const __m512 dt = twice(dt8), dtu = twice(_mm256_mul_ps(dt8, _mm256_loadu_ps(v.u + v.at(t))));
    const float* Bt = v.B_row(t);
    float* St = S + static_cast<std::size_t>(t) * N * kW;
    float* Et = Ea + static_cast<std::size_t>(t) * N * kW;
    for (int n = 0; n < N; n += 2) {
      const __m512 a = exp2_nonpositive(_mm512_mul_ps(dt, _mm512_loadu_ps(A2 + n * kW)));
      const __m512 sn = _mm512_fmadd_ps(a, _mm512_loadu_ps(g + n * kW), _mm512_mul_ps(dtu, pair(Bt, n)));
      _mm512_storeu_ps(g + n * kW, sn);
      _mm512_storeu_ps(St + n * kW, sn);
      _mm512_storeu_ps(Et + n * kW, a);
    }
  }
  // Backwards in time; g = dL/ds[t] (from y[t] and from s[t+1]).
  std::fill(g, g + N * kW, 0.0f);
  const __m256 dk = _mm256_loadu_ps(Dk);
  __m256 dDv = _mm256_loadu_ps(acc.dD8);
  alignas(64) __m256 dbv[kSsmMaxState], dcv[kSsmMaxState];
  for (int t = v.T - 1; t >= 0; --t) {
    const __m256 dt8 = _mm256_loadu_ps(v.dt + v.at(t));
    const __m256 u8 = _mm256_loadu_ps(v.u + v.at(t));
    const __m256 dy8 = _mm256_loadu_ps(dy + v.at(t));
    const __m512 dt = twice(dt8), u = twice(u8), dyv = twice(dy8), dtu = _mm512_mul_ps(dt, u);
    __m512 du = _mm512_setzero_ps(), ddt = _mm512_setzero_ps();
    dDv = _mm256_fmadd_ps(dy8, u8, dDv);
    const float* Bt = v.B_row(t);
    const float* Ct = v.C_row(t);
    const float* St = S + static_cast<std::size_t>(t) * N * kW;
    const float* Et = Ea + static_cast<std::size_t>(t) * N * kW;
    for (int n = 0; n < N; n += 2) {
      const __m512 bn = pair(Bt, n);
      const __m512 a = _mm512_loadu_ps(Et + n * kW);
      const __m512 sp = t > 0 ? _mm512_loadu_ps(St - N * kW + n * kW) : _mm512_setzero_ps();
      const __m512 gj = _mm512_fmadd_ps(dyv, pair(Ct, n), _mm512_loadu_ps(g + n * kW));
      const __m512 dc = _mm512_mul_ps(dyv, _mm512_loadu_ps(St + n * kW));
      const __m512 daa = _mm512_mul_ps(_mm512_mul_ps(gj, sp), a);  // dL/da · a
      _mm512_storeu_ps(acc.dAacc + n * kW, _mm512_fmadd_ps(daa, dt, _mm512_loadu_ps(acc.dAacc + n * kW)));
      ddt = _mm512_fmadd_ps(daa, _mm512_loadu_ps(A + n * kW), ddt);
      ddt = _mm512_fmadd_ps(_mm512_mul_ps(gj, u), bn, ddt);
      du = _mm512_fmadd_ps(_mm512_mul_ps(gj, dt), bn, du);
      // States n and n+1 are dbv[n] and dbv[n + 1], side by side in memory: one store each.
      _mm512_store_ps(reinterpret_cast<float*>(dbv + n), _mm512_mul_ps(gj, dtu));
      _mm512_store_ps(reinterpret_cast<float*>(dcv + n), dc);
      _mm512_storeu_ps(g + n * kW, _mm512_mul_ps(a, gj));
    }
    add_lane_sums(o.dBp + static_cast<std::size_t>(t) * N, dbv, N);
    add_lane_sums(o.dCp + static_cast<std::size_t>(t) * N, dcv, N);
    const __m256 du8 = _mm256_fmadd_ps(dy8, dk, fold(du));
    _mm256_storeu_ps(o.du + v.at(t), _mm256_add_ps(_mm256_loadu_ps(o.du + v.at(t)), du8));
    _mm256_storeu_ps(o.ddt + v.at(t), _mm256_add_ps(_mm256_loadu_ps(o.ddt + v.at(t)), fold(ddt)));
  }
  _mm256_storeu_ps(acc.dD8, dDv);
}
#endif  // NS_SCAN_AVX2

// Calls fn(t0, len) for each document of row b, in order: [t0, t0 + len) (the whole row when
// doc_start is null). A document starts at the row's first token and wherever doc_start[t] == t.
template <typename Fn>
void for_each_document(const int32_t* doc_start, int b, int T, Fn&& fn) {
  if (doc_start == nullptr) {
    fn(0, T);
    return;
  }
  const int32_t* ds = doc_start + static_cast<std::size_t>(b) * T;
  for (int t0 = 0; t0 < T;) {
    int t1 = t0 + 1;
    while (t1 < T && ds[t1] != t1) ++t1;
    fn(t0, t1 - t0);
    t0 = t1;
  }
}

// Which loops a block runs: intrinsics only for full blocks, AVX-512 also needs an even state count.
enum class Path { kPortable, kAvx2, kAvx512 };

Path block_path(SimdLevel level, int nd, int N) {
#ifdef NS_SCAN_AVX2
  if (nd == kW && level == SimdLevel::kAvx512 && N % 2 == 0) return Path::kAvx512;
  if (nd == kW && level >= SimdLevel::kAvx2) return Path::kAvx2;
#endif
  return Path::kPortable;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// drivers

void ssm_scan_forward(float* y, float* state_out, const float* u, const float* dt, const float* A_log,
                      const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                      const float* state_in, int B, int T, int Di, int N, const int32_t* doc_start) {
  CHECK(N <= kSsmMaxState);
  const int nblocks = scan_blocks(Di);
  const SimdLevel level = simd_level();
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
    const Path path = block_path(level, nd, N);
    if (path != Path::kPortable)
      for (int i = 0; i < N * kW; ++i) A[i] *= kLog2e;  // the intrinsics' exp is 2^x
    for_each_document(doc_start, b, T, [&](int t0, int len) {
      if (t0 > 0) std::fill(s, s + N * kW, 0.0f);  // a new document starts from a zero state
      const BlockView v{u, dt, Bm, Cm, ldbc, Di, d0, nd, len, N, static_cast<std::size_t>(b) * T + t0};
#ifdef NS_SCAN_AVX2
      if (path == Path::kAvx512) return forward_block_avx512(y, s, A, Dk, v);
      if (path == Path::kAvx2) return forward_block_avx2(y, s, A, Dk, v);
#endif
      forward_block_portable(y, s, A, Dk, v);
    });
    if (state_out) {
      for (int j = 0; j < nd; ++j)
        for (int n = 0; n < N; ++n)
          state_out[(static_cast<std::size_t>(b) * Di + d0 + j) * N + n] = s[n * kW + j];
    }
  }
}

std::size_t ssm_scan_backward_scratch_floats(int B, int T, int Di, int N) {
  const std::size_t G = scan_groups(Di);
  return G * (2 * static_cast<std::size_t>(T) * N * kW + 2 * static_cast<std::size_t>(B) * T * N);
}

void ssm_scan_backward(float* du, float* ddt, float* dA_log, float* dBm, float* dCm, float* dD,
                       const float* dy, const float* u, const float* dt, const float* A_log,
                       const float* Bm, const float* Cm, int ldbc, const float* Dskip,
                       float* scratch, int B, int T, int Di, int N, const int32_t* doc_start) {
  CHECK(N <= kSsmMaxState);
  const int nblocks = scan_blocks(Di), G = scan_groups(Di);
  const std::size_t states_floats = static_cast<std::size_t>(T) * N * kW;
  const std::size_t part_floats = static_cast<std::size_t>(B) * T * N;  // one of dB / dC per group
  const SimdLevel level = simd_level();
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int grp = 0; grp < G; ++grp) {
      float* S = scratch + grp * 2 * states_floats;  // (T, N, kW) states
      float* Ea = S + states_floats;                 // (T, N, kW) decays
      float* dBp = scratch + G * 2 * states_floats + grp * 2 * part_floats;  // (B, T, N)
      float* dCp = dBp + part_floats;                                       // (B, T, N)
      std::fill(dBp, dBp + 2 * part_floats, 0.0f);
      const int blk0 = grp * nblocks / G, blk1 = (grp + 1) * nblocks / G;
      for (int blk = blk0; blk < blk1; ++blk) {
        const int d0 = blk * kW, nd = std::min(kW, Di - d0);
        alignas(32) float A[kSsmMaxState * kW];
        alignas(32) float g[kSsmMaxState * kW];
        alignas(32) float dAacc[kSsmMaxState * kW];
        alignas(32) float Dk[kW], dD8[kW] = {};
        load_A(A, A_log, d0, nd, N);
        const Path path = block_path(level, nd, N);
#ifdef NS_SCAN_AVX2
        alignas(32) float A2[kSsmMaxState * kW];  // A·log2(e), for the intrinsics' exp2
        for (int i = 0; i < N * kW; ++i) A2[i] = A[i] * kLog2e;
#endif
        std::fill(dAacc, dAacc + N * kW, 0.0f);
        load_block(Dk, Dskip + d0, nd);
        for (int b = 0; b < B; ++b) {
          // Each document is its own scan from a zero state.
          for_each_document(doc_start, b, T, [&](int t0, int len) {
            const std::size_t row0 = static_cast<std::size_t>(b) * T + t0;
            const BlockView v{u, dt, Bm, Cm, ldbc, Di, d0, nd, len, N, row0};
            const BlockOut o{du, ddt, dBp + row0 * N, dCp + row0 * N};
#ifdef NS_SCAN_AVX2
            if (path == Path::kAvx512) return backward_block_avx512(o, {dAacc, dD8}, S, Ea, g, A, A2, Dk, dy, v);
            if (path == Path::kAvx2) return backward_block_avx2(o, {dAacc, dD8}, S, Ea, g, A, A2, Dk, dy, v);
#endif
            backward_block_portable(o, {dAacc, dD8}, S, Ea, g, A, Dk, dy, v);
          });
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
        const float* dBp = scratch + G * 2 * states_floats + grp * 2 * part_floats + static_cast<std::size_t>(bt) * N;
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
                                const float* Dskip, const float* state_in, int B, int T, int Di, int N,
                                const int32_t* doc_start) {
  for (int b = 0; b < B; ++b) {
    for (int d = 0; d < Di; ++d) {
      float s[kSsmMaxState];
      for (int n = 0; n < N; ++n) s[n] = state_in ? state_in[(static_cast<std::size_t>(b) * Di + d) * N + n] : 0.0f;
      for (int t = 0; t < T; ++t) {
        const std::size_t row = static_cast<std::size_t>(b) * T + t;
        if (doc_start && t > 0 && doc_start[row] == t)
          for (int n = 0; n < N; ++n) s[n] = 0.0f;  // a new document
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
