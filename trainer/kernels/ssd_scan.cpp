// The chunked Mamba-2 scan (trainer/kernels/ssd.h). Per batch row and head, the sequence is cut into
// chunks of Q tokens. Within a chunk, with l[i] = Σ_{k<=i} dt[k]·A (the log decay from the chunk's
// start, in double), everything is a matrix product (OpenBLAS, single-threaded inside the OpenMP
// loop over (batch, head) pairs):
//   W = (C·Bᵀ) ∘ L,  L[i,j] = exp(l[i] − l[j])·dt[j] for j <= i in the same document, else 0
//   y = W·x + diag(e)·C·Sᵀ + D·x,           e[i] = exp(l[i]) (0 once a document starts in the chunk)
//   S' = f·S + (v ⊙ x)ᵀ·B,                  f = e[Q−1], v[j] = exp(l[Q−1] − l[j])·dt[j] (last document)
// so only the (P, N) state S crosses chunks. The backward re-runs that recurrence to keep each
// chunk's entering state (scratch), then walks the chunks backwards with the transposed products;
// heads sharing a group write their dB/dC into per-head scratch rows that are summed at the end.
#pragma GCC optimize("no-trapping-math")  // lets fast_expf vectorize (see ssm_scan.cpp)

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/check.h"
#include "trainer/kernels/simd_math.h"
#include "trainer/kernels/ssd.h"

namespace trainer {
namespace {

void gemm(bool ta, bool tb, int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c,
          int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b,
              ldb, beta, c, ldc);
}

int n_chunks(const SsdDims& d) { return (d.T + d.Q - 1) / d.Q; }

// Per-thread working set of one chunk.
struct Work {
  std::vector<double> l, e, v, R, dl;
  std::vector<float> G, W, E, dW, QP, QP2, QN, S, dS, dSp, ddt, dtv;
  void size(const SsdDims& d) {
    const std::size_t Q = d.Q, QQ = Q * Q, PN = static_cast<std::size_t>(d.P) * d.N;
    l.resize(Q), e.resize(Q), v.resize(Q), R.resize(Q), dl.resize(Q), ddt.resize(Q), dtv.resize(Q);
    G.resize(QQ), W.resize(QQ), E.resize(QQ), dW.resize(QQ);
    QP.resize(Q * d.P), QP2.resize(Q * d.P), QN.resize(Q * d.N);
    S.resize(PN), dS.resize(PN), dSp.resize(PN);
  }
};

Work& work(const SsdDims& d) {
  thread_local Work w;
  w.size(d);
  return w;
}

// One chunk of one (batch row, head): pointers, masks and the decay quantities.
struct Chunk {
  const SsdDims& d;
  int b, h, g, t0, q;
  double A;
  const float *x, *Bm, *Cm, *dt;  // x, Bm, Cm rows at stride ld; dt at stride H
  const int32_t* ds;              // the row's doc_start (null = one document)

  Chunk(const SsdDims& dims, int b_, int h_, int c, const float* x0, const float* B0, const float* C0, const float* dt0,
        const float* A_log, const int32_t* doc_start)
      : d(dims),
        b(b_),
        h(h_),
        g(h_ / (dims.H / dims.G)),
        t0(c * dims.Q),
        q(std::min(dims.Q, dims.T - c * dims.Q)),
        A(-std::exp(static_cast<double>(A_log[h_]))) {
    const std::size_t r = static_cast<std::size_t>(b) * d.T + t0;
    x = x0 + r * d.ld + static_cast<std::size_t>(h) * d.P;
    Bm = B0 + r * d.ld + static_cast<std::size_t>(g) * d.N;
    Cm = C0 + r * d.ld + static_cast<std::size_t>(g) * d.N;
    dt = dt0 + r * d.H + h;
    ds = doc_start ? doc_start + static_cast<std::size_t>(b) * d.T : nullptr;
  }
  float dt_at(int i) const { return dt[static_cast<std::size_t>(i) * d.H]; }
  bool same_doc(int i, int j) const { return ds == nullptr || ds[t0 + i] == ds[t0 + j]; }
  // Token i reads the state entering the chunk: its document began before the chunk (or is the
  // row's first document, which state_in feeds).
  bool reads_state(int i) const { return ds == nullptr || ds[t0 + i] < t0 || ds[t0 + i] == 0; }

  // l, e, R, v (work) and f.
  double decays(Work& w) const {
    double acc = 0.0;
    for (int i = 0; i < q; ++i) {
      acc += static_cast<double>(dt_at(i)) * A;
      w.l[i] = acc;
      w.e[i] = reads_state(i) ? std::exp(acc) : 0.0;
    }
    for (int j = 0; j < q; ++j) {
      w.R[j] = same_doc(q - 1, j) ? std::exp(w.l[q - 1] - w.l[j]) : 0.0;
      w.v[j] = w.R[j] * dt_at(j);
    }
    return w.e[q - 1];
  }

  // G = C·Bᵀ, E = masked decay ratios, W = G ∘ E ∘ dt (all q x q, row stride q).
  void intra(Work& w) const {
    gemm(false, true, q, q, d.N, Cm, d.ld, Bm, d.ld, 0.0f, w.G.data(), q);
    float* dtv = w.dtv.data();
    for (int j = 0; j < q; ++j) dtv[j] = dt_at(j);
    for (int i = 0; i < q; ++i) {
      float* E = w.E.data() + static_cast<std::size_t>(i) * q;
      float* W = w.W.data() + static_cast<std::size_t>(i) * q;
      const float* G = w.G.data() + static_cast<std::size_t>(i) * q;
      const double li = w.l[i];
      const double* l = w.l.data();
      // The differences in double (l is a running sum), their exp in float (vectorized).
#pragma omp simd
      for (int j = 0; j <= i; ++j) E[j] = fast_expf(static_cast<float>(li - l[j]));
      for (int j = i + 1; j < q; ++j) E[j] = 0.0f;
      if (ds != nullptr)
        for (int j = 0; j <= i; ++j)
          if (!same_doc(i, j)) E[j] = 0.0f;
#pragma omp simd
      for (int j = 0; j < q; ++j) W[j] = G[j] * E[j] * dtv[j];
    }
  }

  // S = f·S + (v ⊙ x)ᵀ·B; `fresh`: S was zero (its old contents are ignored).
  void advance(Work& w, float* S, double f, bool fresh) const {
    for (int j = 0; j < q; ++j)
      for (int p = 0; p < d.P; ++p)
        w.QP[static_cast<std::size_t>(j) * d.P + p] =
            static_cast<float>(w.v[j]) * x[static_cast<std::size_t>(j) * d.ld + p];
    if (!fresh) {
      const std::size_t PN = static_cast<std::size_t>(d.P) * d.N;
      for (std::size_t k = 0; k < PN; ++k) S[k] *= static_cast<float>(f);
    }
    gemm(true, false, d.P, d.N, q, w.QP.data(), d.P, Bm, d.ld, fresh ? 0.0f : 1.0f, S, d.N);
  }
};

}  // namespace

void ssd_scan_forward(float* y, float* state_out, const float* x, const float* Bm, const float* Cm, const float* dt,
                      const float* A_log, const float* Dskip, const float* state_in, const SsdDims& d,
                      const int32_t* doc_start) {
  CHECK(d.G > 0 && d.H % d.G == 0 && d.Q > 0);
  const int Di = d.H * d.P, nc = n_chunks(d);
  const std::size_t PN = static_cast<std::size_t>(d.P) * d.N;
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < d.B * d.H; ++bh) {
    const int b = bh / d.H, h = bh % d.H;
    Work& w = work(d);
    float* S = w.S.data();
    bool have = state_in != nullptr;
    if (have) std::memcpy(S, state_in + static_cast<std::size_t>(bh) * PN, sizeof(float) * PN);
    for (int c = 0; c < nc; ++c) {
      const Chunk k(d, b, h, c, x, Bm, Cm, dt, A_log, doc_start);
      const double f = k.decays(w);
      k.intra(w);
      float* Y = w.QP2.data();
      gemm(false, false, k.q, d.P, k.q, w.W.data(), k.q, k.x, d.ld, 0.0f, Y, d.P);
      if (have) {  // + diag(e)·C·Sᵀ
        for (int i = 0; i < k.q; ++i)
          for (int n = 0; n < d.N; ++n)
            w.QN[static_cast<std::size_t>(i) * d.N + n] =
                static_cast<float>(w.e[i]) * k.Cm[static_cast<std::size_t>(i) * d.ld + n];
        gemm(false, true, k.q, d.P, d.N, w.QN.data(), d.N, S, d.N, 1.0f, Y, d.P);
      }
      const float Dh = Dskip[h];
      for (int i = 0; i < k.q; ++i) {
        float* yr = y + (static_cast<std::size_t>(b) * d.T + k.t0 + i) * Di + static_cast<std::size_t>(h) * d.P;
        const float* xr = k.x + static_cast<std::size_t>(i) * d.ld;
        const float* Yr = Y + static_cast<std::size_t>(i) * d.P;
        for (int p = 0; p < d.P; ++p) yr[p] = Yr[p] + Dh * xr[p];
      }
      if (c + 1 < nc || state_out) {
        k.advance(w, S, f, !have);
        have = true;
      }
    }
    if (state_out) {
      if (have)
        std::memcpy(state_out + static_cast<std::size_t>(bh) * PN, S, sizeof(float) * PN);
      else
        std::memset(state_out + static_cast<std::size_t>(bh) * PN, 0, sizeof(float) * PN);
    }
  }
}

std::size_t ssd_scan_backward_scratch_floats(const SsdDims& d) {
  const std::size_t BH = static_cast<std::size_t>(d.B) * d.H;
  return BH * n_chunks(d) * d.P * d.N + 2 * BH * d.T * d.N + 2 * BH;
}

void ssd_scan_backward(float* dx, float* dBm, float* dCm, float* ddt, float* dA_log, float* dD, const float* dy,
                       const float* x, const float* Bm, const float* Cm, const float* dt, const float* A_log,
                       const float* Dskip, float* scratch, const SsdDims& d, const int32_t* doc_start) {
  CHECK(d.G > 0 && d.H % d.G == 0 && d.Q > 0);
  const int Di = d.H * d.P, nc = n_chunks(d), HN = d.H * d.N;
  const std::size_t PN = static_cast<std::size_t>(d.P) * d.N, BH = static_cast<std::size_t>(d.B) * d.H;
  float* states = scratch;             // (B, H, nc, P, N)
  float* pdB = states + BH * nc * PN;  // (B, T, H, N)
  float* pdC = pdB + BH * d.T * d.N;   // (B, T, H, N)
  float* pdA = pdC + BH * d.T * d.N;   // (B, H)
  float* pdD = pdA + BH;               // (B, H)
  std::memset(pdB, 0, sizeof(float) * (2 * BH * d.T * d.N + 2 * BH));
#pragma omp parallel for schedule(dynamic, 1)
  for (int bh = 0; bh < d.B * d.H; ++bh) {
    const int b = bh / d.H, h = bh % d.H;
    Work& w = work(d);
    float* st = states + static_cast<std::size_t>(bh) * nc * PN;
    // The state entering each chunk (chunk 0: zero).
    std::memset(st, 0, sizeof(float) * PN);
    for (int c = 0; c + 1 < nc; ++c) {
      const Chunk k(d, b, h, c, x, Bm, Cm, dt, A_log, doc_start);
      const double f = k.decays(w);
      std::memcpy(st + (c + 1) * PN, st + c * PN, sizeof(float) * PN);
      k.advance(w, st + (c + 1) * PN, f, c == 0);
    }
    float* dS = w.dS.data();  // dL/d(state leaving the chunk)
    double dA = 0.0, dDh = 0.0;
    const float Dh = Dskip[h];
    for (int c = nc - 1; c >= 0; --c) {
      const Chunk k(d, b, h, c, x, Bm, Cm, dt, A_log, doc_start);
      const int q = k.q;
      const double f = k.decays(w);
      k.intra(w);
      const std::size_t r0 = static_cast<std::size_t>(b) * d.T + k.t0;
      const float* dyc = dy + r0 * Di + static_cast<std::size_t>(h) * d.P;
      float* dxc = dx + r0 * d.ld + static_cast<std::size_t>(h) * d.P;
      float* dBc = pdB + (r0 * d.H + h) * d.N;  // rows at stride H·N
      float* dCc = pdC + (r0 * d.H + h) * d.N;
      const float* Sp = st + static_cast<std::size_t>(c) * PN;
      std::fill(w.dl.begin(), w.dl.end(), 0.0);
      std::fill(w.ddt.begin(), w.ddt.end(), 0.0f);
      // D skip.
      for (int i = 0; i < q; ++i)
        for (int p = 0; p < d.P; ++p) {
          const float g = dyc[static_cast<std::size_t>(i) * Di + p];
          dDh += static_cast<double>(g) * k.x[static_cast<std::size_t>(i) * d.ld + p];
          dxc[static_cast<std::size_t>(i) * d.ld + p] += Dh * g;
        }
      // Intra-chunk: y = W·x.
      gemm(false, true, q, q, d.P, dyc, Di, k.x, d.ld, 0.0f, w.dW.data(), q);
      gemm(true, false, q, d.P, q, w.W.data(), q, dyc, Di, 1.0f, dxc, d.ld);
      for (int i = 0; i < q; ++i)
        for (int j = 0; j <= i; ++j) {
          const std::size_t kk = static_cast<std::size_t>(i) * q + j;
          const float dW = w.dW[kk];
          const double z = static_cast<double>(dW) * w.W[kk];
          w.dl[i] += z;
          w.dl[j] -= z;
          w.ddt[j] += dW * w.E[kk] * w.G[kk];
          w.dW[kk] = dW * w.E[kk] * k.dt_at(j);  // now dG
        }
      for (int i = 0; i < q; ++i)
        for (int j = i + 1; j < q; ++j) w.dW[static_cast<std::size_t>(i) * q + j] = 0.0f;
      gemm(false, false, q, d.N, q, w.dW.data(), q, k.Bm, d.ld, 1.0f, dCc, HN);
      gemm(true, false, q, d.N, q, w.dW.data(), q, k.Cm, d.ld, 1.0f, dBc, HN);
      // The entering state read through C: y += diag(e)·C·Sᵀ.
      float* dSp = w.dSp.data();
      if (c > 0) {
        float* U = w.QP.data();
        gemm(false, true, q, d.P, d.N, k.Cm, d.ld, Sp, d.N, 0.0f, U, d.P);
        float* DYe = w.QP2.data();
        for (int i = 0; i < q; ++i) {
          double de = 0.0;
          for (int p = 0; p < d.P; ++p) {
            const float g = dyc[static_cast<std::size_t>(i) * Di + p];
            de += static_cast<double>(g) * U[static_cast<std::size_t>(i) * d.P + p];
            DYe[static_cast<std::size_t>(i) * d.P + p] = static_cast<float>(w.e[i]) * g;
          }
          w.dl[i] += de * w.e[i];
        }
        gemm(false, false, q, d.N, d.P, DYe, d.P, Sp, d.N, 1.0f, dCc, HN);
        gemm(true, false, d.P, d.N, q, DYe, d.P, k.Cm, d.ld, 0.0f, dSp, d.N);
      }
      // The state leaving the chunk: S' = f·S + (v ⊙ x)ᵀ·B.
      if (c + 1 < nc) {
        if (c > 0) {
          double dot = 0.0;
          for (std::size_t kk = 0; kk < PN; ++kk) {
            dot += static_cast<double>(dS[kk]) * Sp[kk];
            dSp[kk] += static_cast<float>(f) * dS[kk];
          }
          w.dl[q - 1] += dot * f;
        }
        float* T1 = w.QP.data();  // B·dSᵀ (q, P)
        gemm(false, true, q, d.P, d.N, k.Bm, d.ld, dS, d.N, 0.0f, T1, d.P);
        float* T2 = w.QN.data();  // x·dS (q, N)
        gemm(false, false, q, d.N, d.P, k.x, d.ld, dS, d.N, 0.0f, T2, d.N);
        for (int j = 0; j < q; ++j) {
          if (w.R[j] == 0.0) continue;
          const float vj = static_cast<float>(w.v[j]);
          double dv = 0.0;
          for (int p = 0; p < d.P; ++p) {
            const std::size_t kp = static_cast<std::size_t>(j) * d.P + p;
            dv += static_cast<double>(k.x[static_cast<std::size_t>(j) * d.ld + p]) * T1[kp];
            dxc[static_cast<std::size_t>(j) * d.ld + p] += vj * T1[kp];
          }
          for (int n = 0; n < d.N; ++n)
            dBc[static_cast<std::size_t>(j) * HN + n] += vj * T2[static_cast<std::size_t>(j) * d.N + n];
          // v[j] = exp(l[q−1] − l[j])·dt[j]
          w.ddt[j] += static_cast<float>(dv * w.R[j]);
          w.dl[q - 1] += dv * w.v[j];
          w.dl[j] -= dv * w.v[j];
        }
      }
      if (c > 0) std::swap(w.dS, w.dSp), dS = w.dS.data();
      // l[i] = Σ_{k<=i} dt[k]·A.
      double suffix = 0.0;
      for (int i = q - 1; i >= 0; --i) {
        suffix += w.dl[i];
        ddt[(r0 + i) * d.H + h] += w.ddt[i] + static_cast<float>(suffix * k.A);
        dA += suffix * k.dt_at(i);
      }
    }
    pdA[bh] = static_cast<float>(dA * -std::exp(static_cast<double>(A_log[h])));  // dA/dA_log = A
    pdD[bh] = static_cast<float>(dDh);
  }
  // Sum the heads of each group into dB, dC; the batch rows into dA_log, dD.
  const int per = d.H / d.G;
#pragma omp parallel for schedule(static)
  for (int r = 0; r < d.B * d.T; ++r)
    for (int h = 0; h < d.H; ++h) {
      const int g = h / per;
      const float* pb = pdB + (static_cast<std::size_t>(r) * d.H + h) * d.N;
      const float* pc = pdC + (static_cast<std::size_t>(r) * d.H + h) * d.N;
      float* ob = dBm + static_cast<std::size_t>(r) * d.ld + static_cast<std::size_t>(g) * d.N;
      float* oc = dCm + static_cast<std::size_t>(r) * d.ld + static_cast<std::size_t>(g) * d.N;
      for (int n = 0; n < d.N; ++n) ob[n] += pb[n], oc[n] += pc[n];
    }
  for (std::size_t bh = 0; bh < BH; ++bh) {
    const int h = static_cast<int>(bh % d.H);
    if (dA_log) dA_log[h] += pdA[bh];
    if (dD) dD[h] += pdD[bh];
  }
}

}  // namespace trainer
