// Tests of the base storage formats: the NF4 codebook against the published table and against its
// construction from normal quantiles, half conversions, and quantize -> dequantize error bounds.
#include "trainer/quant/format.h"

#include <gtest/gtest.h>

#include "trainer/kernels/simd_level.h"

#include <cmath>
#include <cstring>
#include <random>

#if defined(__F16C__)
#include <immintrin.h>
#endif

namespace trainer {
namespace {

std::vector<float> normal_values(int64_t n, float std, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, std);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Nf4Codebook, EqualsPublishedTable) {
  // QLoRA (Dettmers et al. 2023), Appendix E, as shipped in bitsandbytes.
  const double published[16] = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                                 -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                                 0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
                                 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                                 0.7229568362236023, 1.0};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kNf4Codebook[i], static_cast<float>(published[i])) << i;
}

// Inverse of the standard normal CDF by bisection on 0.5 * erfc(-x / sqrt 2).
double normal_ppf(double p) {
  double lo = -10.0, hi = 10.0;
  for (int it = 0; it < 200; ++it) {
    double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

TEST(Nf4Codebook, MatchesNormalQuantileConstruction) {
  // The paper's construction: 8 positive quantiles and 7 negative ones of N(0,1) between
  // offset = 0.9677083 and 0.5, an exact zero, normalized into [-1, 1].
  const double offset = 0.9677083;
  std::vector<double> v;
  for (int i = 0; i < 8; ++i) v.push_back(normal_ppf(offset + (0.5 - offset) * i / 8.0));
  for (int i = 0; i < 7; ++i) v.push_back(-normal_ppf(offset + (0.5 - offset) * i / 7.0));
  v.push_back(0.0);
  std::sort(v.begin(), v.end());
  const double top = v.back();
  for (int i = 0; i < 16; ++i) EXPECT_NEAR(kNf4Codebook[i], v[i] / top, 1e-6) << i;
}

TEST(HalfConversions, F16RoundTripsAndSpecials) {
  EXPECT_EQ(f32_to_f16(0.0f), 0x0000);
  EXPECT_EQ(f32_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // rounds up to inf
  EXPECT_EQ(f32_to_f16(INFINITY), 0x7C00);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  for (uint32_t h = 0; h < 0x10000; ++h) {              // every finite half survives a round trip
    if (((h >> 10) & 0x1F) == 0x1F) continue;
    EXPECT_EQ(f32_to_f16(f16_to_f32(static_cast<uint16_t>(h))), h) << h;
  }
}

#if defined(__F16C__) || defined(__aarch64__)
// The CPU's own conversions: F16C on x86, FCVT (round to nearest even) on Arm.
uint16_t hw_f32_to_f16(float x) {
#if defined(__F16C__)
  return static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT));
#else
  const __fp16 h = static_cast<__fp16>(x);
  uint16_t bits;
  std::memcpy(&bits, &h, 2);
  return bits;
#endif
}

float hw_f16_to_f32(uint16_t bits) {
#if defined(__F16C__)
  return _cvtsh_ss(bits);
#else
  __fp16 h;
  std::memcpy(&h, &bits, 2);
  return static_cast<float>(h);
#endif
}

TEST(HalfConversions, F16AgreesWithHardware) {
  std::mt19937 rng(7);
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = rng();
    float x;
    std::memcpy(&x, &bits, 4);
    if (std::isnan(x)) continue;
    const uint16_t hw = hw_f32_to_f16(x);
    ASSERT_EQ(f32_to_f16(x), hw) << x;
    ASSERT_EQ(f16_to_f32(hw), hw_f16_to_f32(hw));
  }
}
#endif

TEST(HalfConversions, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (float x : normal_values(10000, 3.0f, 1)) {
    EXPECT_LE(std::fabs(bf16_to_f32(f32_to_bf16(x)) - x), std::fabs(x) * std::ldexp(1.0f, -8));
  }
}

TEST(QuantLayout, BytesAndBitsPerElement) {
  QuantLayout nf4{QuantFormat::kNF4, 1024, 1024, false};
  EXPECT_EQ(nf4.code_bytes(), 1024u * 1024u / 2u);
  EXPECT_NEAR(nf4.bits_per_element(), 4.5, 1e-3);
  QuantLayout dq{QuantFormat::kNF4, 1024, 1024, true};
  EXPECT_NEAR(dq.bits_per_element(), 4.0 + 8.0 / 64 + 32.0 / (64 * 256), 2e-3);
  QuantLayout q8{QuantFormat::kQ8, 1024, 1024, false};
  EXPECT_NEAR(q8.bits_per_element(), 8.5, 1e-3);
  EXPECT_EQ((QuantLayout{QuantFormat::kBF16, 3, 5, false}.total_bytes()), 30u);
  EXPECT_FALSE((QuantLayout{QuantFormat::kQ8, 4, 64, true}.validate().ok()));
  EXPECT_FALSE((QuantLayout{QuantFormat::kNF4, 0, 64, false}.validate().ok()));
}

TEST(QuantFormatNames, ParseAndErrors) {
  for (auto f : {QuantFormat::kF32, QuantFormat::kF16, QuantFormat::kBF16, QuantFormat::kQ8, QuantFormat::kNF4}) {
    auto r = parse_quant_format(quant_format_name(f));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, f);
  }
  auto bad = parse_quant_format("int4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nf4"), std::string::npos);
}

// The block of element i and its true absmax.
float true_absmax(const std::vector<float>& x, int64_t i) {
  int64_t b = i / kQuantBlock, first = b * kQuantBlock, last = std::min<int64_t>(first + kQuantBlock, x.size());
  float m = 0;
  for (int64_t j = first; j < last; ++j) m = std::max(m, std::fabs(x[j]));
  return m;
}

TEST(QuantizeRoundTrip, F32IsExactF16AndBf16Bounded) {
  const QuantLayout f32{QuantFormat::kF32, 7, 33, false};
  auto x = normal_values(f32.n(), 1.0f, 2);
  std::vector<float> y(x.size());
  dequantize(quantize(f32, x.data()).view(), y.data());
  EXPECT_EQ(x, y);
  for (auto [fmt, rel] : {std::pair{QuantFormat::kF16, std::ldexp(1.0f, -11)}, {QuantFormat::kBF16, std::ldexp(1.0f, -8)}}) {
    const QuantLayout L{fmt, 7, 33, false};
    dequantize(quantize(L, x.data()).view(), y.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_LE(std::fabs(y[i] - x[i]), std::fabs(x[i]) * rel) << quant_format_name(fmt);
  }
}

TEST(QuantizeRoundTrip, Q8WithinHalfAStep) {
  const QuantLayout L{QuantFormat::kQ8, 19, 100, false};  // blocks straddle rows; last block partial
  auto x = normal_values(L.n(), 0.05f, 3);
  std::vector<float> y(x.size());
  dequantize(quantize(L, x.data()).view(), y.data());
  double err2 = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float step = true_absmax(x, static_cast<int64_t>(i)) / 127.0f;
    EXPECT_LE(std::fabs(y[i] - x[i]), 0.5f * step * 1.0001f + 1e-9f) << i;
    err2 += (y[i] - x[i]) * (y[i] - x[i]);
  }
  EXPECT_GT(err2, 0.0);  // it really quantized
}

TEST(QuantizeRoundTrip, Nf4PicksTheNearestLevel) {
  const QuantLayout L{QuantFormat::kNF4, 13, 70, false};  // odd-sized rows: nibbles straddle rows
  auto x = normal_values(L.n(), 0.02f, 4);
  x[5] = 0.0f;
  std::vector<float> y(x.size());
  const QuantMatrix q = quantize(L, x.data());
  dequantize(q.view(), y.data());
  float max_half_gap = 0;
  for (int i = 0; i < 15; ++i) max_half_gap = std::max(max_half_gap, 0.5f * (kNf4Codebook[i + 1] - kNf4Codebook[i]));
  EXPECT_EQ(y[5], 0.0f);  // zero is a level
  for (size_t i = 0; i < x.size(); ++i) {
    const float absmax = true_absmax(x, static_cast<int64_t>(i));
    EXPECT_EQ(q.view().block_scale(static_cast<int64_t>(i) / kQuantBlock), absmax);
    const float err = std::fabs(y[i] - x[i]);
    EXPECT_LE(err, absmax * max_half_gap * 1.0001f);
    for (float level : kNf4Codebook) EXPECT_LE(err, std::fabs(level * absmax - x[i]) * 1.0001f + 1e-9f);
  }
  // The element with the largest magnitude in a block is reproduced exactly (it maps to +-1).
  int64_t argmax = 0;
  for (int64_t i = 0; i < kQuantBlock; ++i) if (std::fabs(x[i]) > std::fabs(x[argmax])) argmax = i;
  EXPECT_EQ(y[argmax], x[argmax]);
}

TEST(QuantizeRoundTrip, Nf4DoubleQuantizedScalesAreClose) {
  const QuantLayout L{QuantFormat::kNF4, 300, 256, true};  // 1200 blocks: 5 scale blocks
  auto x = normal_values(L.n(), 0.02f, 5);
  const QuantMatrix q = quantize(L, x.data());
  const QuantView v = q.view();
  std::vector<float> y(x.size());
  dequantize(v, y.data());
  // Each decoded scale is within half a second-level step of the true absmax.
  const int64_t nb = L.n_blocks();
  double mean = 0;
  for (int64_t b = 0; b < nb; ++b) mean += true_absmax(x, b * kQuantBlock);
  mean /= static_cast<double>(nb);
  EXPECT_NEAR(v.scale_mean(), mean, 1e-6);
  for (int64_t b = 0; b < nb; ++b) {
    const float step = v.scale_scales()[b / kScaleBlock];
    EXPECT_GT(step, 0.0f);
    EXPECT_LE(std::fabs(v.block_scale(b) - true_absmax(x, b * kQuantBlock)), 0.5f * step * 1.001f + 1e-9f);
  }
  // The element error is the NF4 error at the decoded scale plus any overshoot beyond it.
  float max_half_gap = 0;
  for (int i = 0; i < 15; ++i) max_half_gap = std::max(max_half_gap, 0.5f * (kNf4Codebook[i + 1] - kNf4Codebook[i]));
  double err2 = 0, err2_plain = 0;
  std::vector<float> yp(x.size());
  dequantize(quantize(QuantLayout{QuantFormat::kNF4, 300, 256, false}, x.data()).view(), yp.data());
  for (size_t i = 0; i < x.size(); ++i) {
    const float s = v.block_scale(static_cast<int64_t>(i) / kQuantBlock);
    EXPECT_LE(std::fabs(y[i] - x[i]), s * max_half_gap * 1.0001f + std::max(0.0f, std::fabs(x[i]) - s) + 1e-7f);
    err2 += (y[i] - x[i]) * (y[i] - x[i]);
    err2_plain += (yp[i] - x[i]) * (yp[i] - x[i]);
  }
  EXPECT_LT(err2, 1.05 * err2_plain);  // double quantization costs little accuracy
}

TEST(Dequantize, AnyRangeAgreesWithTheWhole) {
  for (auto fmt : {QuantFormat::kQ8, QuantFormat::kNF4, QuantFormat::kF16, QuantFormat::kBF16}) {
    for (bool dq : {false, true}) {
      if (dq && fmt != QuantFormat::kNF4) continue;
      const QuantLayout L{fmt, 9, 130, dq};
      auto x = normal_values(L.n(), 1.0f, 6);
      const QuantMatrix q = quantize(L, x.data());
      std::vector<float> whole(x.size());
      dequantize(q.view(), whole.data());
      for (auto [b, e] : {std::pair<int64_t, int64_t>{0, 64}, {1, 63}, {64, 192}, {63, 65}, {3, 1169}, {1100, 1170}, {7, 7}}) {
        std::vector<float> part(static_cast<size_t>(e - b));
        dequantize_range(q.view(), b, e, part.data());
        for (int64_t i = b; i < e; ++i) ASSERT_EQ(part[i - b], whole[i]) << quant_format_name(fmt) << " " << i;
      }
    }
  }
}

// The AVX-512, AVX2 and scalar block decoders give the same bits (each value is one product of a
// level and its block's scale); levels this CPU cannot run are not compared.
TEST(Dequantize, EveryInstructionSetDecodesAlike) {
  const SimdLevel saved = simd_level();
  for (auto [fmt, dq] : {std::pair{QuantFormat::kQ8, false}, {QuantFormat::kNF4, false}, {QuantFormat::kNF4, true}}) {
    const QuantLayout L{fmt, 40, 320, dq};
    const QuantMatrix q = quantize(L, normal_values(L.n(), 0.5f, 8).data());
    set_simd_level(SimdLevel::kPortable);
    std::vector<float> scalar(static_cast<size_t>(L.n()));
    dequantize(q.view(), scalar.data());
    for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
      if (set_simd_level(level) != level) continue;
      std::vector<float> vec(scalar.size(), -1.0f);
      dequantize(q.view(), vec.data());
      for (size_t i = 0; i < vec.size(); ++i)
        ASSERT_EQ(vec[i], scalar[i]) << quant_format_name(fmt) << " " << simd_level_name(level) << " " << i;
    }
  }
  set_simd_level(saved);
  if (cpu_simd_level() != SimdLevel::kAvx512) GTEST_SKIP() << "this CPU has no AVX-512: only AVX2 was compared";
}

}  // namespace
}  // namespace trainer
