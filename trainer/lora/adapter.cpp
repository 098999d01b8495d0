// LoRA adapter math: forward/backward with cblas_sgemm, init, and rank changes through a small SVD
// (LAPACK dgeqrf/dorgqr/dgesvd from the OpenBLAS build, in double precision; the matrices are
// In × r, Out × r and r × r). A rank change allocates a few temporaries: it runs between steps.
#include "trainer/lora/adapter.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/check.h"
#include "trainer/lora/kernels.h"

extern "C" {
// LAPACK (Fortran ABI; the trailing size_t are the hidden lengths of the character arguments).
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau, double* work,
             const int* lwork, int* info);
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a, const int* lda, double* s,
             double* u, const int* ldu, double* vt, const int* ldvt, double* work, const int* lwork, int* info,
             size_t jobu_len, size_t jobvt_len);
}

namespace trainer {
namespace {

// splitmix64: a tiny deterministic generator for the initial A.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) {  // [lo, hi)
    return lo + (hi - lo) * static_cast<float>(next() >> 40) * (1.0f / 16777216.0f);
  }
};

void fill_kaiming_rows(float* a, int64_t row_begin, int64_t row_end, int64_t in, uint64_t seed) {
  SplitMix rng{seed};
  const float bound = 1.0f / std::sqrt(static_cast<float>(in));
  for (int64_t i = row_begin * in; i < row_end * in; ++i) a[i] = rng.uniform(-bound, bound);
}

void zero(float* p, int64_t n) {
  if (p != nullptr && n > 0) std::memset(p, 0, sizeof(float) * static_cast<size_t>(n));
}

double mean_of(const float* p, int64_t n) {
  if (p == nullptr || n == 0) return 0.0;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[i];
  return s / static_cast<double>(n);
}

// In-place QR of a column-major m × n matrix (m >= n): `a` becomes Q (m × n, orthonormal columns),
// `r` (n × n, column-major) gets R.
void qr(double* a, int m, int n, double* r) {
  std::vector<double> tau(static_cast<size_t>(n));
  int info = 0, lwork = -1;
  double query = 0;
  dgeqrf_(&m, &n, a, &m, tau.data(), &query, &lwork, &info);
  lwork = std::max(1, static_cast<int>(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dgeqrf_(&m, &n, a, &m, tau.data(), work.data(), &lwork, &info);
  CHECK_MSG(info == 0, "dgeqrf failed");
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < n; ++i) r[j * n + i] = i <= j ? a[j * m + i] : 0.0;
  lwork = -1;
  dorgqr_(&m, &n, &n, a, &m, tau.data(), &query, &lwork, &info);
  lwork = std::max(1, static_cast<int>(query));
  work.assign(static_cast<size_t>(lwork), 0.0);
  dorgqr_(&m, &n, &n, a, &m, tau.data(), work.data(), &lwork, &info);
  CHECK_MSG(info == 0, "dorgqr failed");
}

// scale·B·A = (Q_B U) diag(s) (Q_A V)ᵀ, all column-major: qa (In × r), qb (Out × r), u (r × r),
// vt (r × r), s (r) descending.
struct LowRankSvd {
  std::vector<double> qa, qb, u, vt, s;
};

LowRankSvd low_rank_svd(const LoraTensors& t) {
  const int r = t.rank, in = static_cast<int>(t.in), out = static_cast<int>(t.out);
  LowRankSvd f;
  // Row-major A (r, In) is column-major Aᵀ (In, r).
  f.qa.assign(t.a, t.a + static_cast<size_t>(r) * in);
  // Row-major Bt (r, Out) is column-major B (Out, r).
  f.qb.assign(t.bt, t.bt + static_cast<size_t>(r) * out);
  std::vector<double> ra(static_cast<size_t>(r) * r), rb(ra.size()), m(ra.size(), 0.0);
  qr(f.qa.data(), in, r, ra.data());
  qr(f.qb.data(), out, r, rb.data());
  // m = scale · R_B · R_Aᵀ (column-major).
  for (int j = 0; j < r; ++j)
    for (int i = 0; i < r; ++i) {
      double acc = 0;
      for (int l = 0; l < r; ++l) acc += rb[l * r + i] * ra[l * r + j];
      m[j * r + i] = static_cast<double>(t.scale) * acc;
    }
  f.s.resize(static_cast<size_t>(r));
  f.u.resize(ra.size());
  f.vt.resize(ra.size());
  int info = 0, lwork = -1;
  double query = 0;
  dgesvd_("A", "A", &r, &r, m.data(), &r, f.s.data(), f.u.data(), &r, f.vt.data(), &r, &query, &lwork, &info, 1, 1);
  lwork = std::max(1, static_cast<int>(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dgesvd_("A", "A", &r, &r, m.data(), &r, f.s.data(), f.u.data(), &r, f.vt.data(), &r, work.data(), &lwork, &info, 1,
          1);
  CHECK_MSG(info == 0, "dgesvd did not converge");
  return f;
}

void grow(LoraTensors& t, int k, uint64_t seed) {
  const int r = t.rank;
  const float va_mean = static_cast<float>(mean_of(t.v_a, r * t.in));
  const float vb_mean = static_cast<float>(mean_of(t.v_bt, r * t.out));
  fill_kaiming_rows(t.a, r, k, t.in, seed);  // Bt's new rows are already zero (the invariant)
  if (t.m_a != nullptr) std::fill(t.m_a + r * t.in, t.m_a + k * t.in, 0.0f);
  if (t.v_a != nullptr) std::fill(t.v_a + r * t.in, t.v_a + k * t.in, va_mean);
  if (t.m_bt != nullptr) std::fill(t.m_bt + r * t.out, t.m_bt + k * t.out, 0.0f);
  if (t.v_bt != nullptr) std::fill(t.v_bt + r * t.out, t.v_bt + k * t.out, vb_mean);
}

void shrink(LoraTensors& t, int k, const LowRankSvd& f) {
  const int r = t.rank;
  const int64_t in = t.in, out = t.out;
  double row_sq = 0;
  for (int64_t i = 0; i < r * in; ++i) row_sq += static_cast<double>(t.a[i]) * t.a[i];
  double c = std::sqrt(row_sq / r);
  if (!(c > 0.0)) c = 1.0 / std::sqrt(3.0);
  // A'[j][i] = c · (Q_A V)[i][j];  V[l][j] = vt[l * r + j] (vt column-major: vt(j, l) at l * r + j).
  std::vector<float> a_new(static_cast<size_t>(k * in)), bt_new(static_cast<size_t>(k * out));
  for (int j = 0; j < k; ++j)
    for (int64_t i = 0; i < in; ++i) {
      double acc = 0;
      for (int l = 0; l < r; ++l) acc += f.qa[static_cast<size_t>(l * in + i)] * f.vt[static_cast<size_t>(l * r + j)];
      a_new[static_cast<size_t>(j * in + i)] = static_cast<float>(c * acc);
    }
  // B'[o][j] = (Q_B U)[o][j] · s_j / (c · scale); the scale stays outside the factors.
  for (int64_t o = 0; o < out; ++o)
    for (int j = 0; j < k; ++j) {
      double acc = 0;
      for (int l = 0; l < r; ++l) acc += f.qb[static_cast<size_t>(l * out + o)] * f.u[static_cast<size_t>(j * r + l)];
      bt_new[static_cast<size_t>(j * out + o)] = static_cast<float>(acc * f.s[static_cast<size_t>(j)] / (c * t.scale));
    }
  const float va_mean = static_cast<float>(mean_of(t.v_a, r * in));
  const float vb_mean = static_cast<float>(mean_of(t.v_bt, out * r));
  zero(t.a, t.a_capacity());
  zero(t.bt, t.bt_capacity());
  std::copy(a_new.begin(), a_new.end(), t.a);
  std::copy(bt_new.begin(), bt_new.end(), t.bt);
  zero(t.m_a, t.a_capacity());
  zero(t.m_bt, t.bt_capacity());
  zero(t.v_a, t.a_capacity());
  zero(t.v_bt, t.bt_capacity());
  if (t.v_a != nullptr) std::fill(t.v_a, t.v_a + k * in, va_mean);
  if (t.v_bt != nullptr) std::fill(t.v_bt, t.v_bt + k * out, vb_mean);
}

}  // namespace

common::Status validate_lora_rank(int rank, int64_t in, int64_t out, const std::string& what) {
  const int64_t limit = std::min(in, out);
  if (rank < 1 || rank > limit)
    return common::Status::InvalidArgument("LoRA rank " + std::to_string(rank) + " is out of range for " + what +
                                           " (" + std::to_string(out) + " x " + std::to_string(in) +
                                           "): it must be between 1 and " + std::to_string(limit));
  return common::Status::Ok();
}

void lora_init(LoraTensors& t, uint64_t seed) {
  CHECK(t.rank >= 1 && t.rank <= t.rank_max);
  for (float* p : {t.a, t.grad_a, t.m_a, t.v_a}) zero(p, t.a_capacity());
  for (float* p : {t.bt, t.grad_bt, t.m_bt, t.v_bt}) zero(p, t.bt_capacity());
  fill_kaiming_rows(t.a, 0, t.rank, t.in, seed);
}

void lora_forward(float* y, float* u, const float* x, const LoraTensors& t, int64_t M) {
  if (M == 0) return;
  lora_down_forward(u, x, t.a, M, t.in, t.rank);
  lora_up_forward(y, u, t.bt, t.scale, M, t.out, t.rank);
}

void lora_backward(float* dx, LoraTensors& t, const float* dy, const float* x, const float* u, float* g_scratch,
                   int64_t M) {
  if (M == 0) return;
  const int m = static_cast<int>(M), r = t.rank, in = static_cast<int>(t.in), out = static_cast<int>(t.out);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, out, m, t.scale, u, r, dy, out, 1.0f, t.grad_bt, out);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, r, out, t.scale, dy, out, t.bt, out, 0.0f, g_scratch, r);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, in, m, 1.0f, g_scratch, r, x, in, 1.0f, t.grad_a, in);
  if (dx != nullptr)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, in, r, 1.0f, g_scratch, r, t.a, in, 1.0f, dx, in);
}

std::vector<double> lora_singular_values(const LoraTensors& t) { return low_rank_svd(t).s; }

common::Result<LoraRankChange> lora_set_rank(LoraTensors& t, int new_rank, uint64_t seed) {
  if (new_rank < 1 || new_rank > t.rank_max || new_rank > std::min(t.in, t.out))
    return common::Status::InvalidArgument("LoRA rank " + std::to_string(new_rank) + " is out of range: it must be between 1 and " +
                                           std::to_string(std::min<int64_t>(t.rank_max, std::min(t.in, t.out))));
  LoraRankChange change;
  change.old_rank = t.rank;
  change.new_rank = new_rank;
  if (new_rank == t.rank) return change;
  const LowRankSvd f = low_rank_svd(t);
  for (double s : f.s) change.update_norm_sq += s * s;
  change.sigma_max = f.s.empty() ? 0.0 : f.s[0];
  if (new_rank < t.rank) {
    for (int j = new_rank; j < t.rank; ++j) change.discarded_sq += f.s[static_cast<size_t>(j)] * f.s[static_cast<size_t>(j)];
    change.sigma_kept_min = f.s[static_cast<size_t>(new_rank - 1)];
    shrink(t, new_rank, f);
  } else {
    grow(t, new_rank, seed);
  }
  zero(t.grad_a, t.a_capacity());
  zero(t.grad_bt, t.bt_capacity());
  t.rank = new_rank;
  return change;
}

}  // namespace trainer
