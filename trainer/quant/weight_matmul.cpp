// The dequantizing matmul over the weight type table: decode rows [r0, r0+nr) × cols [c0, c0+nc)
// of W into the fp32 panel (row-major, leading dimension nc) with the type's decoder, then one sgemm
// per tile. The forward walks the column chunks of a row band (accumulating into y), the input
// gradient walks the row chunks of a column band (accumulating into dx); see weight_matmul.h for
// why. With several threads and enough rows, each thread runs that loop over its own share of the
// activation rows with a single-threaded sgemm (OpenBLAS's OpenMP build runs one thread inside a
// parallel region) and its own part of the panel. In bf16 (ComputeDtype::kBf16) the same walk
// packs each tile in bf16 into that part of the panel, beside the activations' bf16 block, and
// multiplies with bf16_gemm (trainer/quant/bf16_gemm.h).
#include "trainer/quant/weight_matmul.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "common/check.h"
#include "trainer/quant/bf16_gemm.h"
#include "trainer/quant/format.h"

namespace trainer::quant {
namespace {

// OpenBLAS's Zen kernels sum K in steps of this many, reading and writing the output once per step.
constexpr int64_t kBlasKStep = 384;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t m) { return ceil_div(a, m) * m; }

// Columns are cut on multiples of this: 64 values (a multiple of a block, and whole SIMD decodes).
int64_t col_align(const WeightMatrix& w) { return std::max<int64_t>(kQuantBlock, w.type->block_elems); }
// Whether a row can be cut on those multiples without splitting a block (a sectioned type's blocks
// run across rows; a ggml row is whole blocks).
bool cols_splittable(const WeightMatrix& w) { return w.cols % w.type->block_elems == 0; }
// Whether sgemm reads W in place (fp32 in stored row order): no panel, nothing decoded.
bool in_place(const WeightMatrix& w) { return w.type->plain_f32 && w.row_order == nullptr; }

// Chooses a tile for a product whose summed dimension K runs along `k_len` (chunks that are multiples
// of `k_align`) and whose output runs along `n_len` (bands, multiples of `n_align`); a dimension that
// is not splittable stays whole. Besides the multiply-adds, which every tiling shares, each band makes
// sgemm pack the activations' K columns again (bands · k_len floats per activation row) and each K
// step reads and writes the output once (steps · n_len floats per row). The tile that fits the panel
// with the lowest sum of the two wins; it is never all of W unless nothing smaller is possible.
struct Split {
  int64_t k, n;
};
Split choose_split(int64_t k_len, int64_t n_len, int64_t k_align, bool k_splittable, int64_t n_align, bool n_splittable,
                   int64_t budget) {
  Split best{k_splittable ? std::min(k_len, k_align) : k_len, n_splittable ? std::min(n_len, n_align) : n_len};
  int64_t best_cost = -1, best_bands = 0;
  const int64_t max_chunks = k_splittable ? ceil_div(k_len, k_align) : 1;
  for (int64_t chunks = 1; chunks <= max_chunks; ++chunks) {
    const int64_t k = std::min(k_len, round_up(ceil_div(k_len, chunks), k_align));
    if (ceil_div(k_len, k) != chunks) continue;  // the same k as a smaller count of chunks
    int64_t n = n_len;
    if (n_splittable) n = std::min(n_len, std::max(n_align, budget / k / n_align * n_align));
    if (k * n > budget && chunks < max_chunks) continue;  // does not fit: cut K further
    if (n == n_len && k == k_len) {                       // all of W: halve the output instead, or cut K further
      if (!n_splittable || n_len < 2 * n_align) continue;
      n = round_up(ceil_div(n_len, 2), n_align);
    }
    const int64_t bands = ceil_div(n_len, n);
    n = std::min(n_len, round_up(ceil_div(n_len, bands), n_align));  // even bands
    const int64_t cost = bands * k_len + chunks * ceil_div(k, kBlasKStep) * n_len;
    // On a tie, fewer bands: the activations are packed once and each sgemm has the widest output.
    if (best_cost < 0 || cost < best_cost || (cost == best_cost && bands < best_bands))
      best = {k, n}, best_cost = cost, best_bands = bands;
    if (bands == 1) break;  // more chunks can only add output passes
  }
  return best;
}

// Decodes the tile rows [r0, r0+nr) × cols [c0, c0+nc) of W into panel (leading dimension nc).
void decode_tile(const WeightMatrix& w, int64_t r0, int64_t nr, int64_t c0, int64_t nc, float* panel) {
  const TypeTraits& t = *w.type;
  const int64_t in = w.cols;
  if (t.packing == Packing::kSections) {  // a range of the flattened matrix per row, or all rows at once
    const QuantView v = quant_view(w);
    if (nc == in) {  // whole rows: one contiguous range, parallel inside dequantize_range
      dequantize_range(v, r0 * in, (r0 + nr) * in, panel);
      return;
    }
#pragma omp parallel for schedule(static) if (nr * nc >= 16384)
    for (int64_t r = 0; r < nr; ++r) {
      const int64_t begin = (r0 + r) * in + c0;
      dequantize_range(v, begin, begin + nc, panel + r * nc);
    }
    return;
  }
  const size_t col_offset = row_bytes(t, c0);  // row blocks: each row's part on its own
#pragma omp parallel for schedule(static) if (nr * nc >= 16384)
  for (int64_t r = 0; r < nr; ++r) t.decode_row(w.row(r0 + r) + col_offset, panel + r * nc, nc);
}

WeightTile forward_tile(const WeightMatrix& w, int64_t budget) {
  // K along W's columns (cut on block boundaries), output bands along W's rows.
  const Split s = choose_split(w.cols, w.rows, col_align(w), cols_splittable(w), 1, true, budget);
  return {s.n, s.k};
}

WeightTile backward_tile(const WeightMatrix& w, int64_t budget) {
  // K along W's rows (any cut), output bands along W's columns (cut on block boundaries).
  const Split s = choose_split(w.rows, w.cols, 1, true, col_align(w), cols_splittable(w), budget);
  return {s.k, s.n};
}

// y rows [0, M) (+)= x · Wᵀ, tile by tile, with whatever threads the caller's context gives sgemm.
void forward_rows(float* y, const float* x, const WeightMatrix& w, int64_t M, float* panel, float beta,
                  const WeightTile& t) {
  const int64_t out = w.rows, in = w.cols;
  for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
    const int64_t nr = std::min(t.rows, out - r0);
    for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
      const int64_t nc = std::min(t.cols, in - c0);
      decode_tile(w, r0, nr, c0, nc, panel);
      // y[:, r0:r0+nr] (+)= x[:, c0:c0+nc] · tileᵀ  (lda = in, ldc = out)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(nr),
                  static_cast<int>(nc), 1.0f, x + c0, static_cast<int>(in), panel, static_cast<int>(nc),
                  c0 == 0 ? beta : 1.0f, y + r0, static_cast<int>(out));
    }
  }
}

// dx rows [0, M) += dy · W, tile by tile.
void backward_rows(float* dx, const float* dy, const WeightMatrix& w, int64_t M, float* panel, const WeightTile& t) {
  const int64_t out = w.rows, in = w.cols;
  for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
    const int64_t nc = std::min(t.cols, in - c0);
    for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
      const int64_t nr = std::min(t.rows, out - r0);
      decode_tile(w, r0, nr, c0, nc, panel);
      // dx[:, c0:c0+nc] += dy[:, r0:r0+nr] · tile  (lda = out, ldc = in)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(nc),
                  static_cast<int>(nr), 1.0f, dy + r0, static_cast<int>(out), panel, static_cast<int>(nc), 1.0f,
                  dx + c0, static_cast<int>(in));
    }
  }
}

// Threads for a product over M activation rows: each thread takes a contiguous share of the rows
// and runs the whole tile loop with a single-threaded sgemm and its own part of the panel (tiles
// chosen for that part). One parallel region per product instead of a fork and join per tile, and
// the decoding runs in parallel too. 1 inside a parallel region or when the rows are few.
constexpr int64_t kMinRowsPerThread = 64;
int row_threads(int64_t M) {
  if (omp_in_parallel()) return 1;
  return static_cast<int>(std::clamp<int64_t>(M / kMinRowsPerThread, 1, omp_get_max_threads()));
}

// Runs `rows(m0, m1, panel_part, tile)` over the M activation rows: on one thread with the full
// panel and tile_for(kWeightPanelFloats), or split across row_threads(M) threads, each with its
// own part of the panel and tile_for(that part) (when such tiles fit the panel).
template <typename TileFor, typename Rows>
void over_row_shares(int64_t M, const WeightMatrix& w, float* panel, TileFor tile_for, Rows rows) {
  const int nt = row_threads(M);
  if (nt > 1) {
    const int64_t part = static_cast<int64_t>(weight_matmul_scratch_floats(w)) / nt;
    const WeightTile t = tile_for(part);
    if (t.rows * t.cols <= part) {
#pragma omp parallel num_threads(nt)
      {
        const int tid = omp_get_thread_num();
        rows(M * tid / nt, M * (tid + 1) / nt, panel + tid * t.rows * t.cols, t);
      }
      return;
    }
  }
  rows(int64_t{0}, M, panel, tile_for(kWeightPanelFloats));
}

// ---- bf16 ----------------------------------------------------------------------------------------
// A bf16 run's products compute in bf16 with the native kernel, or with the scalar one where
// NIGHTSHIFT_BF16_KERNEL=scalar asks for it (tests). On a CPU without AVX512_BF16 (a bf16 run's
// checkpoint evaluated elsewhere) they compute in fp32: the scalar kernel is too slow to be chosen
// silently. (`train` refuses --compute-dtype bf16 there; auto picks fp32.)
bool bf16_products_enabled() { return cpu_has_avx512_bf16() || bf16_scalar_kernel_requested(); }

// A share of `part` floats of the panel holds the tile packed in bf16 (bf16_gemm.h's layout) and
// after it the A scratch of bf16_gemm, which the decoding of one or two fp32 rows of the tile uses
// first. Tiles are chosen as for fp32, with the largest budget whose packed tile and scratch fit the
// share: the panel the planner counts (weight_matmul_scratch_floats) bounds the bf16 path too.

// The forward product decodes its tile kBf16DecodeRows rows × kBf16DecodeCols columns at a time
// into the scratch and packs them from there: the decoded values and the part of the packed panel
// they go to (128 pairs × 32 columns, 16 KiB) both stay in L1. 256 is a multiple of every block.
constexpr int64_t kBf16DecodeRows = 8, kBf16DecodeCols = 256;

// Floats of the packed tile (rounded to 64 bytes) and of the scratch after it.
int64_t bf16_packed_floats(int64_t K, int64_t N) {
  return round_up(static_cast<int64_t>(bf16_packed_b_elems(K, N)) / 2, 16);
}
// Decodes cols [c0, c0+nc) of row r of W into out, on the calling thread (no OpenMP region: a
// region per row, even an inactive one, costs as much as decoding a few hundred values).
void decode_row_part(const WeightMatrix& w, int64_t r, int64_t c0, int64_t nc, float* out) {
  if (w.type->packing == Packing::kSections) {
    const int64_t begin = r * w.cols + c0;
    dequantize_range(quant_view(w), begin, begin + nc, out);  // below its parallel threshold
    return;
  }
  w.type->decode_row(w.row(r) + row_bytes(*w.type, c0), out, nc);
}

// Columns the forward product decodes at a time from a row of the tile: kBf16DecodeCols unless the
// row cannot be cut there (a type whose blocks do not divide it; a sectioned type decodes any range).
int64_t bf16_decode_cols(const WeightMatrix& w, int64_t nc) {
  const bool cut = w.type->packing == Packing::kSections || kBf16DecodeCols % w.type->block_elems == 0;
  return std::min(nc, cut ? kBf16DecodeCols : nc);
}
bool bf16_tile_fits(const WeightMatrix& w, const WeightTile& t, bool forward, int64_t part) {
  const int64_t K = forward ? t.cols : t.rows, N = forward ? t.rows : t.cols;
  const int64_t decode = forward ? kBf16DecodeRows * bf16_decode_cols(w, K) : 2 * N;
  const int64_t scratch = static_cast<int64_t>(bf16_gemm_a_scratch_min(K) + 1) / 2;
  return bf16_packed_floats(K, N) + std::max(decode, scratch) <= part;
}
template <typename TileFor>
WeightTile bf16_tile(const WeightMatrix& w, TileFor tile_for, bool forward, int64_t part) {
  int64_t budget = 2 * part;  // bf16 halves the tile's bytes
  for (int i = 0; i < 64 && budget > 0; ++i, budget = budget * 7 / 8) {
    const WeightTile t = tile_for(budget);
    if (t.rows > 0 && t.cols > 0 && bf16_tile_fits(w, t, forward, part)) return t;
  }
  return {};
}

// y rows [0, M) (+)= x · Wᵀ in bf16: each tile's rows are columns of the product's B.
void forward_rows_bf16(float* y, const float* x, const WeightMatrix& w, int64_t M, float* part, int64_t part_floats,
                       bool accumulate, const WeightTile& t, bool native) {
  const int64_t out = w.rows, in = w.cols;
  uint16_t* packed = reinterpret_cast<uint16_t*>(part);
  const int64_t used = bf16_packed_floats(t.cols, t.rows);
  float* rest = part + used;
  const size_t rest_elems = static_cast<size_t>(part_floats - used) * 2;
  for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
    const int64_t nr = std::min(t.rows, out - r0);
    for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
      const int64_t nc = std::min(t.cols, in - c0);
      const int64_t chunk = bf16_decode_cols(w, nc), width = chunk;
      for (int64_t n0 = 0; n0 < nr; n0 += kBf16PanelCols) {
        const int64_t nn = std::min(kBf16PanelCols, nr - n0);
        for (int64_t k0 = 0; k0 < nc; k0 += chunk) {
          const int64_t len = std::min(chunk, nc - k0);
          for (int64_t j0 = 0; j0 < nn; j0 += kBf16DecodeRows) {
            const int64_t rows = std::min(kBf16DecodeRows, nn - j0);
            for (int64_t j = 0; j < rows; ++j) decode_row_part(w, r0 + n0 + j0 + j, c0 + k0, len, rest + j * width);
            for (int64_t j = 0; j < rows; ++j)
              bf16_pack_b_column(packed, nc, n0 + j0 + j, k0, len, rest + j * width, native);
          }
        }
      }
      bf16_gemm(M, nr, nc, x + c0, in, packed, y + r0, out, accumulate || c0 > 0, reinterpret_cast<uint16_t*>(rest),
                rest_elems, native);
    }
  }
}

// dx rows [0, M) += dy · W in bf16: each tile's rows are rows of the product's B, packed in pairs.
void backward_rows_bf16(float* dx, const float* dy, const WeightMatrix& w, int64_t M, float* part, int64_t part_floats,
                        const WeightTile& t, bool native) {
  const int64_t out = w.rows, in = w.cols;
  uint16_t* packed = reinterpret_cast<uint16_t*>(part);
  const int64_t used = bf16_packed_floats(t.rows, t.cols);
  float* rest = part + used;
  const size_t rest_elems = static_cast<size_t>(part_floats - used) * 2;
  for (int64_t c0 = 0; c0 < in; c0 += t.cols) {
    const int64_t nc = std::min(t.cols, in - c0);
    for (int64_t r0 = 0; r0 < out; r0 += t.rows) {
      const int64_t nr = std::min(t.rows, out - r0);
      for (int64_t k = 0; k < nr; k += 2) {
        const bool pair = k + 1 < nr;
        decode_row_part(w, r0 + k, c0, nc, rest);
        if (pair) decode_row_part(w, r0 + k + 1, c0, nc, rest + nc);
        bf16_pack_b_rows(packed, nr, nc, k, rest, pair ? rest + nc : nullptr, native);
      }
      bf16_gemm(M, nc, nr, dy + r0, out, packed, dx + c0, in, true, reinterpret_cast<uint16_t*>(rest), rest_elems,
                native);
    }
  }
}

// Runs `rows(m0, m1, part, part_floats, tile)` over the M activation rows as over_row_shares does,
// with tiles that fit a share in bf16. False (nothing done) when no tile fits, or when the product
// would run on one thread while the caller has more: the fp32 sgemm then uses them all.
template <typename TileFor, typename Rows>
bool over_row_shares_bf16(int64_t M, const WeightMatrix& w, float* panel, bool forward, TileFor tile_for, Rows rows) {
  const int nt = row_threads(M);
  if (nt == 1 && !omp_in_parallel() && omp_get_max_threads() > 1) return false;
  const int64_t part = static_cast<int64_t>(weight_matmul_scratch_floats(w)) / nt;
  const WeightTile t = bf16_tile(w, tile_for, forward, part);
  if (t.rows == 0) return false;
  if (nt == 1) {
    rows(int64_t{0}, M, panel, part, t);
    return true;
  }
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    rows(M * tid / nt, M * (tid + 1) / nt, panel + tid * part, part, t);
  }
  return true;
}

}  // namespace

WeightTile weight_forward_tile(const WeightMatrix& w) { return forward_tile(w, kWeightPanelFloats); }

WeightTile weight_backward_tile(const WeightMatrix& w) { return backward_tile(w, kWeightPanelFloats); }

size_t weight_matmul_scratch_floats(const WeightMatrix& w) {
  if (in_place(w)) return 0;
  const WeightTile f = weight_forward_tile(w), b = weight_backward_tile(w);
  return static_cast<size_t>(std::max(f.rows * f.cols, b.rows * b.cols));
}

void decode_matrix(const WeightMatrix& w, float* out) { decode_tile(w, 0, w.rows, 0, w.cols, out); }

void weight_matmul_forward(float* y, const float* x, const WeightMatrix& w, int64_t M, float* panel, bool accumulate,
                           ComputeDtype compute) {
  const int64_t out = w.rows, in = w.cols;
  const float beta = accumulate ? 1.0f : 0.0f;
  if (M == 0) return;
  if (in_place(w)) {  // sgemm reads W in place
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(M), static_cast<int>(out),
                static_cast<int>(in), 1.0f, x, static_cast<int>(in), reinterpret_cast<const float*>(w.bytes),
                static_cast<int>(in), beta, y, static_cast<int>(out));
    return;
  }
  CHECK(panel != nullptr);
  if (compute == ComputeDtype::kBf16 && bf16_products_enabled()) {
    const bool native = bf16_native_kernel();
    if (over_row_shares_bf16(
            M, w, panel, true, [&](int64_t budget) { return forward_tile(w, budget); },
            [&](int64_t m0, int64_t m1, float* part, int64_t part_floats, const WeightTile& t) {
              forward_rows_bf16(y + m0 * out, x + m0 * in, w, m1 - m0, part, part_floats, accumulate, t, native);
            }))
      return;
  }
  over_row_shares(
      M, w, panel, [&](int64_t budget) { return forward_tile(w, budget); },
      [&](int64_t m0, int64_t m1, float* part, const WeightTile& t) {
        forward_rows(y + m0 * out, x + m0 * in, w, m1 - m0, part, beta, t);
      });
}

void weight_matmul_backward_input(float* dx, const float* dy, const WeightMatrix& w, int64_t M, float* panel,
                                  ComputeDtype compute) {
  const int64_t out = w.rows, in = w.cols;
  if (M == 0) return;
  if (in_place(w)) {  // sgemm reads W in place
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(M), static_cast<int>(in),
                static_cast<int>(out), 1.0f, dy, static_cast<int>(out), reinterpret_cast<const float*>(w.bytes),
                static_cast<int>(in), 1.0f, dx, static_cast<int>(in));
    return;
  }
  CHECK(panel != nullptr);
  if (compute == ComputeDtype::kBf16 && bf16_products_enabled()) {
    const bool native = bf16_native_kernel();
    if (over_row_shares_bf16(
            M, w, panel, false, [&](int64_t budget) { return backward_tile(w, budget); },
            [&](int64_t m0, int64_t m1, float* part, int64_t part_floats, const WeightTile& t) {
              backward_rows_bf16(dx + m0 * in, dy + m0 * out, w, m1 - m0, part, part_floats, t, native);
            }))
      return;
  }
  over_row_shares(
      M, w, panel, [&](int64_t budget) { return backward_tile(w, budget); },
      [&](int64_t m0, int64_t m1, float* part, const WeightTile& t) {
        backward_rows(dx + m0 * in, dy + m0 * out, w, m1 - m0, part, t);
      });
}

}  // namespace trainer::quant
