// One loop body built twice, 16-wide (AVX-512) and 8-wide, and the pick between them at the call by
// simd_level() (simd_level.h). The body is an always-inline function; two thin wrappers compile it
// under NS_SIMD_WIDE and NS_SIMD_NARROW. -march=native alone would give one build only (whatever the
// compiling CPU has); the pair lets NIGHTSHIFT_SIMD=avx2 run the 8-wide loops on an AVX-512 CPU, and
// a build for another CPU still has the wide loops.
#pragma once

#include "trainer/kernels/simd_level.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NS_SIMD_BODY [[gnu::always_inline]] inline
#define NS_SIMD_WIDE __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512")))
#define NS_SIMD_NARROW __attribute__((target("prefer-vector-width=256")))
#else
#define NS_SIMD_BODY inline
#define NS_SIMD_WIDE
#define NS_SIMD_NARROW
#endif

namespace trainer {

// The wide build where the kernels run at the AVX-512 level, else the narrow one.
template <typename Fn>
Fn pick_simd(Fn wide, Fn narrow) {
  return simd_level() == SimdLevel::kAvx512 ? wide : narrow;
}

}  // namespace trainer
