// Dequant-matmul over the ggml type table: decode a tile of W (rows [r0, r0+nr) × cols
// [c0, c0+nc), columns on block boundaries) into the panel with the type's decode_row, then one
// sgemm per tile. Decoding runs over the tile's rows with OpenMP; sgemm uses OpenBLAS's threads.
#include "trainer/quant/table_matmul.h"

#include <cblas.h>

#include <algorithm>

#include "common/check.h"

namespace trainer::quant {
namespace {

// A summed dimension of a few hundred keeps sgemm efficient (OpenBLAS sums K in steps of 384).
constexpr int64_t kTargetK = 512;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_down(int64_t a, int64_t m) { return a / m * m; }

void decode_tile(const TypedMatrix& w, int64_t r0, int64_t nr, int64_t c0, int64_t nc, float* panel) {
  const size_t col_offset = row_bytes(*w.type, c0);
  const DecodeRowFn decode = w.type->decode_row;
#pragma omp parallel for schedule(static) if (nr * nc >= 16384)
  for (int64_t r = 0; r < nr; ++r) {
    decode(w.row(r0 + r) + col_offset, panel + r * nc, nc);
  }
}

// F32 in stored row order is multiplied in place, without a panel.
bool is_f32(const TypedMatrix& w) { return w.type->ggml_id == kGgmlF32 && w.row_order == nullptr; }

}  // namespace

TableTile table_forward_tile(const TypedMatrix& w) {
  const int64_t block = w.type->block_elems;
  // K along the columns: whole rows when short, else chunks of about kTargetK on block boundaries.
  int64_t k = w.cols <= kTargetK ? w.cols : std::max(block, round_down(kTargetK, block));
  if (k > kTablePanelFloats) k = std::max(block, round_down(kTablePanelFloats, block));
  int64_t n = std::min(w.rows, std::max<int64_t>(1, kTablePanelFloats / k));
  if (n == w.rows && k == w.cols && w.rows > 1) n = ceil_div(w.rows, 2);  // never all of W
  n = ceil_div(w.rows, ceil_div(w.rows, n));                              // even bands
  return {n, k};
}

TableTile table_backward_tile(const TypedMatrix& w) {
  const int64_t block = w.type->block_elems;
  // K along the rows (any cut); output bands along the columns on block boundaries.
  const int64_t k = std::min(w.rows, kTargetK);
  int64_t n = std::min(w.cols, std::max(block, round_down(kTablePanelFloats / k, block)));
  if (n == w.cols && k == w.rows && w.rows > 1) {  // never all of W: halve K
    return {ceil_div(w.rows, 2), n};
  }
  if (n < w.cols) n = std::min(w.cols, ceil_div(ceil_div(w.cols, ceil_div(w.cols, n)), block) * block);
  return {k, n};
}

size_t table_matmul_scratch_floats(const TypedMatrix& w) {
  if (is_f32(w)) return 0;
  const TableTile f = table_forward_tile(w), b = table_backward_tile(w);
  return static_cast<size_t>(std::max(f.rows * f.cols, b.rows * b.cols));
}

void table_matmul_forward(float* y, const float* x, const TypedMatrix& w, int64_t M, float* panel, bool accumulate) {
  const int64_t out = w.rows, in = w.cols;
  const float beta = accumulate ? 1.0f : 0.0f;
  if (M == 0) return;
  if (is_f32(w)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(out),
                static_cast<int>(in), 1.0f, x, static_cast<int>(in), reinterpret_cast<const float*>(w.bytes),
                static_cast<int>(in), beta, y, static_cast<int>(out));
    return;
  }
  CHECK(panel != nullptr);
  const TableTile t = table_forward_tile(w);
  for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
    const int64_t nr = std::min(t.rows, out - r0);
    for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
      const int64_t nc = std::min(t.cols, in - c0);
      decode_tile(w, r0, nr, c0, nc, panel);
      // y[:, r0:r0+nr] (+)= x[:, c0:c0+nc] · tileᵀ
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nr),
                  static_cast<int>(nc), 1.0f, x + c0, static_cast<int>(in), panel, static_cast<int>(nc),
                  c0 == 0 ? beta : 1.0f, y + r0, static_cast<int>(out));
    }
  }
}

void table_matmul_backward_input(float* dx, const float* dy, const TypedMatrix& w, int64_t M, float* panel) {
  const int64_t out = w.rows, in = w.cols;
  if (M == 0) return;
  if (is_f32(w)) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(in),
                static_cast<int>(out), 1.0f, dy, static_cast<int>(out), reinterpret_cast<const float*>(w.bytes),
                static_cast<int>(in), 1.0f, dx, static_cast<int>(in));
    return;
  }
  CHECK(panel != nullptr);
  const TableTile t = table_backward_tile(w);
  for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
    const int64_t nc = std::min(t.cols, in - c0);
    for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
      const int64_t nr = std::min(t.rows, out - r0);
      decode_tile(w, r0, nr, c0, nc, panel);
      // dx[:, c0:c0+nc] += dy[:, r0:r0+nr] · tile
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(nc),
                  static_cast<int>(nr), 1.0f, dy + r0, static_cast<int>(out), panel, static_cast<int>(nc), 1.0f,
                  dx + c0, static_cast<int>(in));
    }
  }
}

}  // namespace trainer::quant
