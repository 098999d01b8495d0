// The ggml type table (trainer/quant/ggml_types.h): block sizes as ggml defines them, and decoding
// and encoding bit-exact against two independent references: llama.cpp's gguf-py (quantize and
// dequantize in numpy) and ggml itself (ggml_quantize_chunk and the type's to_float, through the
// harness in tests/reference/llamacpp). Skips, saying why, where the references are not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/formats/gguf.h"
#include "trainer/quant/ggml_types.h"

namespace {

using trainer::formats::GgufFile;
using trainer::quant::TypeTraits;

// Values with the blocks quantizers treat specially (zeros, constants, outliers, grid ties, tiny
// magnitudes, all-negative), then random rows of varied scales. cols is a multiple of 256.
std::vector<float> source_values(int rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> scale(0.01f, 3.0f);
  std::vector<float> x(static_cast<size_t>(rows) * cols);
  for (int r = 0; r < rows; ++r) {
    const float s = scale(rng);
    for (int c = 0; c < cols; ++c) x[static_cast<size_t>(r) * cols + c] = normal(rng) * s;
  }
  for (int c = 0; c < 256; ++c) x[c] = 0.0f;                        // an all-zero super-block
  for (int c = 256; c < 288; ++c) x[c] = 0.75f;                     // a constant block
  if (rows > 1) {
    float* r1 = x.data() + cols;
    for (int c = 0; c < 256; ++c) r1[c] *= 1e-3f;
    r1[5] = 40.0f;                                                  // one outlier
    for (int c = 0; c < 32; ++c) r1[256 + c] = static_cast<float>(c - 16) / 4;  // on the grid
  }
  if (rows > 2) {
    float* r2 = x.data() + 2 * cols;
    for (int c = 0; c < 256; ++c) r2[c] = -std::fabs(r2[c]);        // all negative
    for (int c = 256; c < 512 && c < cols; ++c) r2[c] *= 1e-20f;    // below the K-quants' epsilon
  }
  return x;
}

std::vector<uint8_t> encode(const TypeTraits& t, const std::vector<float>& x) {
  std::vector<uint8_t> out(trainer::quant::row_bytes(t, static_cast<int64_t>(x.size())));
  t.encode_row(x.data(), out.data(), static_cast<int64_t>(x.size()));
  return out;
}

std::vector<float> decode(const TypeTraits& t, const uint8_t* bytes, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  t.decode_row(bytes, out.data(), n);
  return out;
}

// The first index where two float arrays differ bitwise, or -1.
int64_t first_bit_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], 4) != 0) return static_cast<int64_t>(i);
  }
  return -1;
}
int64_t first_byte_difference(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return static_cast<int64_t>(i);
  }
  return -1;
}

TEST(GgmlTypes, TableHasGgmlBlockSizes) {
  struct Want {
    const char* name;
    uint32_t id;
    int64_t elems;
    size_t bytes;
  };
  // ggml-common.h's block structs (static_asserts there) and ggml.h's type ids.
  const Want want[] = {{"F32", 0, 1, 4},      {"F16", 1, 1, 2},      {"Q4_0", 2, 32, 18},   {"Q4_1", 3, 32, 20},
                       {"Q5_0", 6, 32, 22},   {"Q5_1", 7, 32, 24},   {"Q8_0", 8, 32, 34},   {"Q2_K", 10, 256, 84},
                       {"Q3_K", 11, 256, 110}, {"Q4_K", 12, 256, 144},
                       {"Q5_K", 13, 256, 176}, {"Q6_K", 14, 256, 210}, {"BF16", 30, 1, 2}};
  ASSERT_EQ(trainer::quant::all_type_traits().size(), std::size(want));
  for (const Want& w : want) {
    const TypeTraits* t = trainer::quant::type_traits_by_name(w.name);
    ASSERT_NE(t, nullptr) << w.name;
    EXPECT_EQ(t, trainer::quant::type_traits(w.id)) << w.name;
    EXPECT_EQ(t->block_elems, w.elems) << w.name;
    EXPECT_EQ(t->block_bytes, w.bytes) << w.name;
    EXPECT_EQ(trainer::quant::ggml_type_name(w.id), w.name);
  }
  EXPECT_EQ(trainer::quant::type_traits(16), nullptr);  // IQ2_XXS: not handled
  EXPECT_EQ(trainer::quant::ggml_type_name(16), "IQ2_XXS");
  EXPECT_EQ(trainer::quant::ggml_type_name(4), "type 4");  // removed from ggml
}

// Independent of any reference: every type reproduces its input within its own step size.
TEST(GgmlTypes, EncodeDecodeErrorIsWithinTheTypesResolution) {
  const std::vector<float> x = source_values(4, 512, 7);
  for (const TypeTraits& t : trainer::quant::all_type_traits()) {
    const std::vector<uint8_t> q = encode(t, x);
    const std::vector<float> y = decode(t, q.data(), static_cast<int64_t>(x.size()));
    // Per block (32 values for the float types): the step of b bits over the block's range is
    // range / (2^b - 1); allow twice that for the rounding of the fp16 scales and the K-quants'
    // quantized sub-block scales, amax / 1000 for an fp16 scale's own rounding, and 1e-7 for
    // scales that underflow fp16.
    const std::string name = t.name;
    const int bits = name == "f32" ? 0 : name == "f16" ? 11 : name == "bf16" ? 8 : name[1] - '0';
    const size_t group = t.block_elems == 1 ? 32 : static_cast<size_t>(t.block_elems);
    for (size_t b = 0; b < x.size(); b += group) {
      float lo = x[b], hi = x[b], amax = 0;
      for (size_t i = b; i < b + group; ++i) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
        amax = std::max(amax, std::fabs(x[i]));
      }
      const float tol = bits == 0 ? 0.0f
                        : t.block_elems == 1 ? amax * std::ldexp(1.0f, -bits) + 1e-7f
                                             : 2.0f * (hi - lo) / static_cast<float>((1 << bits) - 1) + amax * 1e-3f + 1e-7f;
      for (size_t i = b; i < b + group; ++i) ASSERT_LE(std::fabs(y[i] - x[i]), tol) << t.name << " at " << i;
    }
  }
}

// gguf-py quantizes and dequantizes the legacy types in numpy; our bytes and values must equal its.
TEST(GgmlTypes, LegacyTypesAreBitExactWithGgufPy) {
  if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  llamacpp_ref::ScratchDir dir("ggml_types_gguf_py");
  bool ok = false;
  llamacpp_ref::gguf_tool("fixtures '" + dir.file("") + "'", &ok);
  ASSERT_TRUE(ok) << "gguf_py_tool.py fixtures failed";
  auto file = GgufFile::open(dir.file("quant.gguf"));
  ASSERT_TRUE(file.ok()) << file.status().to_string();
  int checked = 0;
  for (const char* name : {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"}) {
    const auto* src = (*file)->find_tensor(std::string(name) + ".src");
    const auto* q = (*file)->find_tensor(std::string(name) + ".q");
    const auto* deq = (*file)->find_tensor(std::string(name) + ".deq");
    ASSERT_TRUE(src && q && deq) << name;
    const TypeTraits* t = trainer::quant::type_traits_by_name(name);
    ASSERT_EQ(q->traits, t) << name;
    const int64_t n = src->elements();
    std::vector<float> x(static_cast<size_t>(n));
    std::memcpy(x.data(), src->data, src->bytes);
    const std::vector<uint8_t> ours = encode(*t, x);
    const std::vector<uint8_t> theirs(q->data, q->data + q->bytes);
    EXPECT_EQ(first_byte_difference(ours, theirs), -1) << name << ": encoding differs from gguf-py's";
    std::vector<float> want(static_cast<size_t>(n));
    std::memcpy(want.data(), deq->data, deq->bytes);
    EXPECT_EQ(first_bit_difference(decode(*t, q->data, n), want), -1) << name << ": decoding differs from gguf-py's";
    ++checked;
  }
  EXPECT_EQ(checked, 7);
}

// ggml itself (ggml_quantize_chunk without an importance matrix = quantize_row_*_ref, and the
// type's to_float) for every quantized type, K-quants included; decoding also against gguf-py's
// numpy dequantizer where it is installed.
TEST(GgmlTypes, AllQuantizedTypesAreBitExactWithGgml) {
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  const bool have_gguf_py = llamacpp_ref::gguf_py_missing().empty();
  llamacpp_ref::ScratchDir dir("ggml_types_ggml");
  const int rows = 8, cols = 1024;
  for (uint32_t seed : {1u, 2u}) {
    const std::vector<float> x = source_values(rows, cols, seed);
    const std::string src = dir.file("x.f32");
    llamacpp_ref::write_bytes(src, x.data(), x.size() * 4);
    for (const char* name :
         {"q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "f16", "bf16"}) {
      SCOPED_TRACE(std::string(name) + " seed " + std::to_string(seed));
      const TypeTraits* t = trainer::quant::type_traits_by_name(name);
      ASSERT_NE(t, nullptr);
      bool ok = false;
      const std::string q = dir.file(std::string(name) + ".bin");
      llamacpp_ref::run("'" + llamacpp_ref::harness() + "' quantize --type " + name + " --cols " + std::to_string(cols) +
                            " --in '" + src + "' --out '" + q + "'",
                        &ok);
      ASSERT_TRUE(ok) << "harness quantize failed";
      const std::vector<char> raw = llamacpp_ref::read_bytes(q);
      const std::vector<uint8_t> theirs(raw.begin(), raw.end());
      const std::vector<uint8_t> ours = encode(*t, x);
      EXPECT_EQ(first_byte_difference(ours, theirs), -1) << "encoding differs from ggml's";

      const std::string deq = dir.file(std::string(name) + ".f32");
      llamacpp_ref::run("'" + llamacpp_ref::harness() + "' dequantize --type " + name + " --n " +
                            std::to_string(x.size()) + " --in '" + q + "' --out '" + deq + "'",
                        &ok);
      ASSERT_TRUE(ok) << "harness dequantize failed";
      const std::vector<char> draw = llamacpp_ref::read_bytes(deq);
      std::vector<float> want(x.size());
      ASSERT_EQ(draw.size(), want.size() * 4);
      std::memcpy(want.data(), draw.data(), draw.size());
      const std::vector<float> mine = decode(*t, theirs.data(), static_cast<int64_t>(x.size()));
      EXPECT_EQ(first_bit_difference(mine, want), -1) << "decoding differs from ggml's";

      if (have_gguf_py && seed == 1 && std::string(name) != "f16" && std::string(name) != "bf16") {
        const std::string pdeq = dir.file(std::string(name) + ".py.f32");
        llamacpp_ref::gguf_tool(std::string("dequant ") + name + " '" + q + "' '" + pdeq + "'", &ok);
        ASSERT_TRUE(ok) << "gguf-py dequant failed";
        const std::vector<char> praw = llamacpp_ref::read_bytes(pdeq);
        std::vector<float> pwant(x.size());
        ASSERT_EQ(praw.size(), pwant.size() * 4);
        std::memcpy(pwant.data(), praw.data(), praw.size());
        EXPECT_EQ(first_bit_difference(mine, pwant), -1) << "decoding differs from gguf-py's";
      }
    }
  }
}

}  // namespace
