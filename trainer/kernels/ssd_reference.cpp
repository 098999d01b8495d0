// Step-by-step Mamba-2 scan (trainer/kernels/ssd.h): the recurrence one token at a time, forward and
// backward, in double. Slow and plain on purpose: the chunked kernels and the benchmark are checked
// against it.
#include <cmath>
#include <cstring>
#include <vector>

#include "trainer/kernels/ssd.h"

namespace trainer {
namespace {

// A document starts at t (the state restarts from zero) unless t is its row's first token.
bool restarts(const int32_t* ds, int b, int T, int t) {
  return ds != nullptr && t > 0 && ds[static_cast<std::size_t>(b) * T + t] == t;
}

}  // namespace

void ssd_scan_forward_reference(float* y, float* state_out, const float* x, const float* Bm, const float* Cm,
                                const float* dt, const float* A_log, const float* Dskip, const float* state_in,
                                const SsdDims& d, const int32_t* ds) {
  const int P = d.P, N = d.N, Di = d.H * d.P;
  std::vector<double> S(static_cast<std::size_t>(P) * N);
  for (int b = 0; b < d.B; ++b) {
    for (int h = 0; h < d.H; ++h) {
      const int g = h / (d.H / d.G);
      const std::size_t so = (static_cast<std::size_t>(b) * d.H + h) * P * N;
      for (std::size_t i = 0; i < S.size(); ++i) S[i] = state_in ? state_in[so + i] : 0.0;
      const double A = -std::exp(static_cast<double>(A_log[h]));
      for (int t = 0; t < d.T; ++t) {
        const std::size_t r = static_cast<std::size_t>(b) * d.T + t;
        const float* xt = x + r * d.ld + h * P;
        const float* bt = Bm + r * d.ld + g * N;
        const float* ct = Cm + r * d.ld + g * N;
        const double dtt = dt[r * d.H + h];
        const double a = restarts(ds, b, d.T, t) ? 0.0 : std::exp(dtt * A);
        for (int p = 0; p < P; ++p) {
          double acc = 0.0;
          for (int n = 0; n < N; ++n) {
            double& s = S[static_cast<std::size_t>(p) * N + n];
            s = a * s + dtt * xt[p] * bt[n];
            acc += s * ct[n];
          }
          y[r * Di + h * P + p] = static_cast<float>(acc + static_cast<double>(Dskip[h]) * xt[p]);
        }
      }
      if (state_out)
        for (std::size_t i = 0; i < S.size(); ++i) state_out[so + i] = static_cast<float>(S[i]);
    }
  }
}

void ssd_scan_backward_reference(float* dx, float* dBm, float* dCm, float* ddt, float* dA_log, float* dD,
                                 const float* dy, const float* x, const float* Bm, const float* Cm, const float* dt,
                                 const float* A_log, const float* Dskip, const SsdDims& d, const int32_t* ds) {
  const int P = d.P, N = d.N, T = d.T, Di = d.H * d.P;
  const std::size_t PN = static_cast<std::size_t>(P) * N;
  std::vector<double> S(static_cast<std::size_t>(T + 1) * PN), dS(PN);
  for (int b = 0; b < d.B; ++b) {
    for (int h = 0; h < d.H; ++h) {
      const int g = h / (d.H / d.G);
      const double A = -std::exp(static_cast<double>(A_log[h]));
      auto row = [&](int t) { return static_cast<std::size_t>(b) * T + t; };
      auto decay = [&](int t) { return restarts(ds, b, T, t) ? 0.0 : std::exp(dt[row(t) * d.H + h] * A); };
      // States after each token: S[t + 1]; S[0] = 0.
      std::fill(S.begin(), S.begin() + PN, 0.0);
      for (int t = 0; t < T; ++t) {
        const std::size_t r = row(t);
        const double a = decay(t), dtt = dt[r * d.H + h];
        for (int p = 0; p < P; ++p)
          for (int n = 0; n < N; ++n)
            S[(t + 1) * PN + p * N + n] =
                a * S[t * PN + p * N + n] + dtt * x[r * d.ld + h * P + p] * Bm[r * d.ld + g * N + n];
      }
      std::fill(dS.begin(), dS.end(), 0.0);
      double dA = 0.0, dDh = 0.0;
      for (int t = T - 1; t >= 0; --t) {
        const std::size_t r = row(t);
        const float* xt = x + r * d.ld + h * P;
        const float* bt = Bm + r * d.ld + g * N;
        const float* ct = Cm + r * d.ld + g * N;
        const float* dyt = dy + r * Di + h * P;
        const double a = decay(t), dtt = dt[r * d.H + h];
        const double* St = &S[(t + 1) * PN];
        const double* Sp = &S[t * PN];
        double da = 0.0, ddtt = 0.0;
        for (int p = 0; p < P; ++p) {
          dDh += static_cast<double>(dyt[p]) * xt[p];
          double dxp = static_cast<double>(Dskip[h]) * dyt[p];
          for (int n = 0; n < N; ++n) {
            double& g_s = dS[p * N + n];
            g_s += static_cast<double>(dyt[p]) * ct[n];  // y = S·C
            dCm[r * d.ld + g * N + n] += static_cast<float>(dyt[p] * St[p * N + n]);
            da += g_s * Sp[p * N + n];
            ddtt += g_s * xt[p] * bt[n];
            dxp += g_s * dtt * bt[n];
            dBm[r * d.ld + g * N + n] += static_cast<float>(g_s * dtt * xt[p]);
            g_s *= a;  // on to S[t - 1]
          }
          dx[r * d.ld + h * P + p] += static_cast<float>(dxp);
        }
        // a = exp(dt·A): da/d(dt) = a·A, da/dA = a·dt.
        ddtt += da * a * A;
        dA += da * a * dtt;
        ddt[r * d.H + h] += static_cast<float>(ddtt);
      }
      if (dA_log) dA_log[h] += static_cast<float>(dA * A);  // A = −exp(A_log)
      if (dD) dD[h] += static_cast<float>(dDh);
    }
  }
}

}  // namespace trainer
