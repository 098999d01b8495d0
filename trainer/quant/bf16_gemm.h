// A bf16 matrix product accumulating in fp32, for the frozen base of lora/qlora runs computed in
// bf16 (`train --compute-dtype bf16`): C (M, N) (+)= A (M, K) · B (K, N), where A is fp32 (the
// activations, rounded to bf16 as they are packed) and B is already packed in bf16 by the caller (a
// decoded tile of a frozen weight). Debian's OpenBLAS has no bf16 GEMM, so the kernel is ours: the
// AVX512_BF16 dot product (vdpbf16ps: two bf16 products per fp32 lane, summed into it) in a register
// block of 12 rows × 32 columns, with a portable scalar kernel of the same arithmetic for CPUs
// without the instruction and for tests. The native kernel is chosen at run time.
//
// B's packed layout (vdpbf16ps's pair-interleaved one): columns in panels of kBf16PanelCols; in a
// panel, for each pair of k (2p, 2p+1), the 32 columns' two values side by side:
//   packed[(panel · pairs + p) · 64 + 2j + h] = B[2p + h][panel · 32 + j],  pairs = ceil(K / 2).
// An odd K's last pair holds zero as its second value; the columns past N in the last panel are
// never stored to C (their values do not matter).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trainer::quant {

// The arithmetic of the frozen base's products (LoraSettings::compute_dtype).
enum class ComputeDtype : uint8_t { kF32, kBf16 };
const char* compute_dtype_name(ComputeDtype d);  // "fp32" | "bf16"

constexpr int64_t kBf16PanelCols = 32;  // columns of B per packed panel (two 16-lane vectors)
constexpr int64_t kBf16BlockRows = 12;  // rows of A per register block

// Whether this CPU has AVX512_BF16 (and AVX512F/BW/VL).
bool cpu_has_avx512_bf16();
// Whether the environment asks for the scalar kernel (NIGHTSHIFT_BF16_KERNEL=scalar, for tests and
// comparisons; read at each call, so a test may switch it).
bool bf16_scalar_kernel_requested();
// Whether the native kernel runs: the CPU has it and the scalar one is not requested.
bool bf16_native_kernel();

// fp32 → bf16 bits, rounded to nearest even as vcvtneps2bf16 does (denormals to signed zero, NaN stays NaN).
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t b);

// uint16 elements of B packed for (K, N).
size_t bf16_packed_b_elems(int64_t K, int64_t N);

// Writes values [k0, k0 + len) of column n of B (k0 even; len even unless k0 + len == K), contiguous
// in `col` (part of a row of W in the forward product).
void bf16_pack_b_column(uint16_t* packed, int64_t K, int64_t n, int64_t k0, int64_t len, const float* col, bool native);
// Writes rows k and k+1 of B (k even; N values each; `row1` null when k + 1 == K) in one pass, as
// the input gradient reads W's rows.
void bf16_pack_b_rows(uint16_t* packed, int64_t K, int64_t N, int64_t k, const float* row0, const float* row1,
                      bool native);

// The A scratch a product needs at the least (uint16 elements): one register block of rows by one
// block of K. More (up to bf16_gemm_a_scratch_best) lets the product pack more rows at a time.
size_t bf16_gemm_a_scratch_min(int64_t K);
size_t bf16_gemm_a_scratch_best(int64_t K);

// C (M, N) = A · B, or C += A · B when `accumulate`. A has leading dimension lda (floats), C ldc;
// `a_scratch` holds `a_scratch_elems` ≥ bf16_gemm_a_scratch_min(K) uint16 elements. `native`: the
// AVX512_BF16 kernel (only when cpu_has_avx512_bf16()), else the scalar one. Single-threaded.
void bf16_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const uint16_t* packed_b, float* C,
               int64_t ldc, bool accumulate, uint16_t* a_scratch, size_t a_scratch_elems, bool native);

}  // namespace trainer::quant
