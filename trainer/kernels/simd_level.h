// Which vector instruction set the engine's own kernels use (the selective scan, the NF4 decoder, the
// softmaxes and the pointwise loops that have an AVX-512 version): the widest the CPU has, unless the
// environment caps it. NIGHTSHIFT_SIMD=avx2 runs the AVX2 versions on an AVX-512 CPU (benchmarks
// compare the two on one machine this way); a value the CPU cannot run, or an unknown one, is ignored
// with a warning. OpenBLAS's own kernels are chosen by OpenBLAS (OPENBLAS_CORETYPE), not here.
#pragma once

namespace trainer {

enum class SimdLevel { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// The level the kernels use now.
SimdLevel simd_level();

// The widest level this CPU runs (AVX-512 means F, DQ, BW and VL; AVX2 means AVX2 and FMA).
SimdLevel cpu_simd_level();

// Caps the level for the rest of the process (tests and benchmarks run both versions side by side);
// a level above the CPU's is lowered to the CPU's. Returns the level now in force.
SimdLevel set_simd_level(SimdLevel level);

const char* simd_level_name(SimdLevel level);

}  // namespace trainer
