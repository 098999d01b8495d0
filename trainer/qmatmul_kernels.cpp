// Dequant-matmul over row panels of W: decode rows [r0, r1) of W into the fp32 panel (a contiguous
// element range, since W is row-major), then one sgemm per panel. The panel decode is parallel over
// blocks (OpenMP) and sgemm uses the same OpenMP pool (Debian's OpenMP build of OpenBLAS).
#include "trainer/qmatmul_kernels.h"

#include <cblas.h>

#include <algorithm>

#include "common/check.h"

namespace trainer {

int64_t qmatmul_panel_rows(const QuantLayout& w) {
  return std::clamp<int64_t>(kQmatmulPanelFloats / std::max<int64_t>(w.cols, 1), 1, w.rows);
}

size_t qmatmul_scratch_floats(const QuantLayout& w) {
  if (w.format == QuantFormat::kF32) return 0;
  return static_cast<size_t>(qmatmul_panel_rows(w) * w.cols);
}

void qmatmul_forward(float* y, const float* x, const QuantView& w, int64_t M, float* panel, bool accumulate) {
  const int64_t out = w.layout.rows, in = w.layout.cols;
  const float beta = accumulate ? 1.0f : 0.0f;
  if (M == 0) return;
  if (w.layout.format == QuantFormat::kF32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(out),
                static_cast<int>(in), 1.0f, x, static_cast<int>(in), reinterpret_cast<const float*>(w.codes()),
                static_cast<int>(in), beta, y, static_cast<int>(out));
    return;
  }
  CHECK(panel != nullptr);
  const int64_t rows_per_panel = qmatmul_panel_rows(w.layout);
  for (int64_t r0 = 0; r0 < out; r0 += rows_per_panel) {
    const int64_t nr = std::min(rows_per_panel, out - r0);
    dequantize_range(w, r0 * in, (r0 + nr) * in, panel);
    // y[:, r0:r0+nr] = x · panelᵀ  (ldc = out)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nr),
                static_cast<int>(in), 1.0f, x, static_cast<int>(in), panel, static_cast<int>(in), beta, y + r0,
                static_cast<int>(out));
  }
}

void qmatmul_backward_input(float* dx, const float* dy, const QuantView& w, int64_t M, float* panel) {
  const int64_t out = w.layout.rows, in = w.layout.cols;
  if (M == 0) return;
  if (w.layout.format == QuantFormat::kF32) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(in),
                static_cast<int>(out), 1.0f, dy, static_cast<int>(out), reinterpret_cast<const float*>(w.codes()),
                static_cast<int>(in), 1.0f, dx, static_cast<int>(in));
    return;
  }
  CHECK(panel != nullptr);
  const int64_t rows_per_panel = qmatmul_panel_rows(w.layout);
  for (int64_t r0 = 0; r0 < out; r0 += rows_per_panel) {
    const int64_t nr = std::min(rows_per_panel, out - r0);
    dequantize_range(w, r0 * in, (r0 + nr) * in, panel);
    // dx += dy[:, r0:r0+nr] · panel  (lda = out)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(in),
                static_cast<int>(nr), 1.0f, dy + r0, static_cast<int>(out), panel, static_cast<int>(in), 1.0f, dx,
                static_cast<int>(in));
  }
}

}  // namespace trainer
