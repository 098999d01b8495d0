// GGUF reading and writing (trainer/formats/gguf.h): files written by llama.cpp's gguf-py are read
// exactly, our writer's files read back exactly through gguf-py's GGUFReader and our reader, and
// every malformed file is refused with an error naming the file (and the tensor or key at fault).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/formats/gguf.h"
#include "trainer/quant/ggml_types.h"

namespace {

using trainer::formats::GgufFile;
using trainer::formats::GgufMetadata;
using trainer::formats::GgufTensorRef;
using trainer::formats::GgufType;
using trainer::formats::GgufValue;
namespace quant = trainer::quant;

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

TEST(Gguf, ReadsEveryValueTypeAndTensorOfAGgufPyFile) {
  if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  llamacpp_ref::ScratchDir dir("gguf_read");
  bool ok = false;
  llamacpp_ref::gguf_tool("fixtures '" + dir.file("") + "'", &ok);
  ASSERT_TRUE(ok);
  const std::string path = dir.file("meta.gguf");
  auto opened = GgufFile::open(path);
  ASSERT_TRUE(opened.ok()) << opened.status().to_string();
  const GgufFile& f = **opened;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(*f.get_string("general.architecture"), "llama");
  struct IntWant {
    const char* key;
    GgufType type;
    int64_t value;
  };
  for (const IntWant& w : {IntWant{"t.u8", GgufType::kU8, 200}, {"t.i8", GgufType::kI8, -100},
                           {"t.u16", GgufType::kU16, 60000}, {"t.i16", GgufType::kI16, -30000},
                           {"t.u32", GgufType::kU32, 4000000000}, {"t.i32", GgufType::kI32, -2000000000},
                           {"t.bool", GgufType::kBool, 1}, {"t.i64", GgufType::kI64, -(int64_t{1} << 62)}}) {
    const GgufValue* v = f.find(w.key);
    ASSERT_NE(v, nullptr) << w.key;
    EXPECT_EQ(v->type, w.type) << w.key;
    EXPECT_EQ(v->i, w.value) << w.key;
  }
  EXPECT_EQ(static_cast<uint64_t>(*f.get_int("t.u64")), (uint64_t{1} << 63) + 5);
  EXPECT_EQ(*f.get_float("t.f32"), static_cast<double>(0.1f));
  EXPECT_EQ(f.find("t.f32")->type, GgufType::kF32);
  EXPECT_EQ(*f.get_float("t.f64"), 1e-300);
  EXPECT_EQ(*f.get_string("t.str"), "h\xc3\xa9llo \xe2\x96\x81w\xc3\xb6rld");
  EXPECT_EQ((*f.get_array("t.ints", GgufType::kI32))->ints, (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ((*f.get_array("t.floats", GgufType::kF32))->floats, (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ((*f.get_array("t.strings", GgufType::kString))->strings,
            (std::vector<std::string>{"a", "", "\xc3\xa7", "<|end|>"}));
  const GgufValue* nested = *f.get_array("t.nested", GgufType::kArray);
  ASSERT_EQ(nested->items.size(), 2u);
  EXPECT_EQ(nested->items[0].ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(nested->items[1].ints, (std::vector<int64_t>{3}));
  // Typed getters say what is wrong.
  EXPECT_NE(f.get_string("t.u8").status().to_string().find("is a u8, expected a string"), std::string::npos);
  EXPECT_NE(f.get_int("no.such").status().to_string().find("'no.such' is missing"), std::string::npos);

  // Tensors: names, dims, types, and the very bytes gguf-py's reader sees at the same offsets.
  const std::string json = llamacpp_ref::gguf_tool("read '" + path + "'", &ok);
  ASSERT_TRUE(ok);
  const auto ref = nlohmann::json::parse(json);
  ASSERT_EQ(f.tensors().size(), ref["tensors"].size());
  for (const auto& rt : ref["tensors"]) {
    const auto* t = f.find_tensor(rt["name"].get<std::string>());
    ASSERT_NE(t, nullptr) << rt["name"];
    EXPECT_EQ(quant::ggml_type_name(t->type), rt["type"].get<std::string>());
    EXPECT_EQ(t->dims, rt["dims"].get<std::vector<int64_t>>());
    EXPECT_EQ(f.data_offset() + t->offset, rt["offset"].get<uint64_t>());
    EXPECT_EQ(hex(t->data, t->bytes), rt["hex"].get<std::string>()) << t->name;
  }
  const auto* t = *f.get_tensor("f32.weight", {3, 5});
  EXPECT_EQ(t->dims, (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(t->rows(), 3);
  EXPECT_EQ(t->row_length(), 5);
  const std::string wrong = f.get_tensor("f32.weight", {5, 3}).status().to_string();
  EXPECT_NE(wrong.find(path), std::string::npos);
  EXPECT_NE(wrong.find("'f32.weight' has shape [3, 5], expected [5, 3]"), std::string::npos) << wrong;

  // Version 2 differs from 3 only in the number; version 1 (32-bit counts) is refused.
  std::vector<char> bytes = llamacpp_ref::read_bytes(path);
  bytes[4] = 2;
  llamacpp_ref::write_bytes(dir.file("v2.gguf"), bytes.data(), bytes.size());
  auto v2 = GgufFile::open(dir.file("v2.gguf"));
  ASSERT_TRUE(v2.ok()) << v2.status().to_string();
  EXPECT_EQ((*v2)->version(), 2u);
  EXPECT_EQ((*v2)->tensors().size(), 3u);
  bytes[4] = 1;
  llamacpp_ref::write_bytes(dir.file("v1.gguf"), bytes.data(), bytes.size());
  const std::string v1 = GgufFile::open(dir.file("v1.gguf")).status().to_string();
  EXPECT_NE(v1.find("version 1 is not supported"), std::string::npos) << v1;
}

GgufMetadata every_type_metadata(uint32_t alignment) {
  GgufMetadata m;
  m.emplace_back("general.architecture", GgufValue::string("llama"));
  if (alignment != 32) m.emplace_back("general.alignment", GgufValue::u32(alignment));
  GgufValue u8; u8.type = GgufType::kU8; u8.i = 255;
  GgufValue i16; i16.type = GgufType::kI16; i16.i = -12345;
  GgufValue i64; i64.type = GgufType::kI64; i64.i = -(int64_t{1} << 40);
  GgufValue f64; f64.type = GgufType::kF64; f64.f = 3.141592653589793;
  m.emplace_back("t.u8", u8);
  m.emplace_back("t.i16", i16);
  m.emplace_back("t.u32", GgufValue::u32(4000000000u));
  m.emplace_back("t.i32", GgufValue::i32(-7));
  m.emplace_back("t.u64", GgufValue::u64((uint64_t{1} << 63) + 9));
  m.emplace_back("t.i64", i64);
  m.emplace_back("t.f32", GgufValue::f32(0.25f));
  m.emplace_back("t.f64", f64);
  m.emplace_back("t.bool", GgufValue::boolean(false));
  m.emplace_back("t.str", GgufValue::string("<|im_start|>\xe2\x96\x81x"));
  m.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array({"<s>", "</s>", "\xe2\x96\x81the", "", "a b"}));
  m.emplace_back("tokenizer.ggml.scores", GgufValue::float_array(GgufType::kF32, {0.0, -1.5, -2.25, 0.0, 7.0}));
  m.emplace_back("tokenizer.ggml.token_type", GgufValue::int_array(GgufType::kI32, {3, 3, 1, 1, 1}));
  return m;
}

// Our writer's file, read by gguf-py's GGUFReader and by our reader, at two alignments.
TEST(Gguf, WriterRoundTripsThroughGgufPyAndOurReader) {
  if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  llamacpp_ref::ScratchDir dir("gguf_write");
  const std::vector<float> a = random_floats(3 * 7, 1);
  const std::vector<float> b = random_floats(2 * 512, 2);
  std::vector<uint8_t> q4k(quant::row_bytes(*quant::type_traits(quant::kGgmlQ4_K), 1024));
  quant::type_traits(quant::kGgmlQ4_K)->encode_row(b.data(), q4k.data(), 1024);
  std::vector<uint8_t> q60(quant::row_bytes(*quant::type_traits(quant::kGgmlQ6_K), 1024));
  quant::type_traits(quant::kGgmlQ6_K)->encode_row(b.data(), q60.data(), 1024);
  std::vector<uint8_t> bf(2 * 21);
  quant::type_traits(quant::kGgmlBF16)->encode_row(a.data(), bf.data(), 21);
  const std::vector<GgufTensorRef> tensors = {
      {"a.weight", quant::kGgmlF32, {7, 3}, a.data(), a.size() * 4},
      {"b.weight", quant::kGgmlQ4_K, {512, 2}, q4k.data(), q4k.size()},
      {"c.weight", quant::kGgmlQ6_K, {256, 2, 2}, q60.data(), q60.size()},
      {"d.norm", quant::kGgmlBF16, {21}, bf.data(), bf.size()},
  };
  for (uint32_t alignment : {32u, 128u}) {
    SCOPED_TRACE("alignment " + std::to_string(alignment));
    const std::string path = dir.file("ours" + std::to_string(alignment) + ".gguf");
    const GgufMetadata meta = every_type_metadata(alignment);
    ASSERT_TRUE(trainer::formats::write_gguf(path, meta, tensors).ok());
    bool ok = false;
    const auto ref = nlohmann::json::parse(llamacpp_ref::gguf_tool("read '" + path + "'", &ok));
    ASSERT_TRUE(ok);
    EXPECT_EQ(ref["alignment"].get<uint32_t>(), alignment);
    const auto& rm = ref["metadata"];
    EXPECT_EQ(rm.size(), meta.size());
    EXPECT_EQ(rm["t.u8"]["type"], "UINT8");
    EXPECT_EQ(rm["t.u8"]["value"], 255);
    EXPECT_EQ(rm["t.i16"]["value"], -12345);
    EXPECT_EQ(rm["t.u32"]["value"], 4000000000u);
    EXPECT_EQ(rm["t.i32"]["value"], -7);
    EXPECT_EQ(rm["t.u64"]["value"].get<uint64_t>(), (uint64_t{1} << 63) + 9);
    EXPECT_EQ(rm["t.i64"]["value"].get<int64_t>(), -(int64_t{1} << 40));
    EXPECT_EQ(rm["t.f32"]["type"], "FLOAT32");
    EXPECT_EQ(rm["t.f32"]["value"], 0.25);
    EXPECT_EQ(rm["t.f64"]["value"], 3.141592653589793);
    EXPECT_EQ(rm["t.bool"]["value"], false);
    EXPECT_EQ(rm["t.str"]["value"], "<|im_start|>\xe2\x96\x81x");
    EXPECT_EQ(rm["tokenizer.ggml.tokens"]["elem"], "STRING");
    EXPECT_EQ(rm["tokenizer.ggml.tokens"]["value"],
              nlohmann::json::array({"<s>", "</s>", "\xe2\x96\x81the", "", "a b"}));
    EXPECT_EQ(rm["tokenizer.ggml.scores"]["value"], nlohmann::json::array({0.0, -1.5, -2.25, 0.0, 7.0}));
    EXPECT_EQ(rm["tokenizer.ggml.token_type"]["elem"], "INT32");
    EXPECT_EQ(rm["tokenizer.ggml.token_type"]["value"], nlohmann::json::array({3, 3, 1, 1, 1}));
    ASSERT_EQ(ref["tensors"].size(), tensors.size());
    for (size_t k = 0; k < tensors.size(); ++k) {
      const auto& rt = ref["tensors"][k];
      EXPECT_EQ(rt["name"], tensors[k].name);
      EXPECT_EQ(rt["type"], quant::ggml_type_name(tensors[k].type));
      EXPECT_EQ(rt["dims"].get<std::vector<int64_t>>(), tensors[k].dims);
      EXPECT_EQ(rt["offset"].get<uint64_t>() % alignment, 0u);
      EXPECT_EQ(rt["hex"], hex(static_cast<const uint8_t*>(tensors[k].data), tensors[k].bytes)) << tensors[k].name;
    }
    // And our own reader gives back the same metadata, in order, and the same bytes.
    auto back = GgufFile::open(path);
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    ASSERT_EQ((*back)->metadata().size(), meta.size());
    for (size_t k = 0; k < meta.size(); ++k) {
      const auto& [key, v] = (*back)->metadata()[k];
      EXPECT_EQ(key, meta[k].first);
      EXPECT_EQ(v.type, meta[k].second.type) << key;
      EXPECT_EQ(v.i, meta[k].second.i) << key;
      EXPECT_EQ(v.f, meta[k].second.f) << key;
      EXPECT_EQ(v.str, meta[k].second.str) << key;
      EXPECT_EQ(v.strings, meta[k].second.strings) << key;
      EXPECT_EQ(v.ints, meta[k].second.ints) << key;
      EXPECT_EQ(v.floats, meta[k].second.floats) << key;
    }
    for (const GgufTensorRef& t : tensors) {
      const auto* rt = (*back)->find_tensor(t.name);
      ASSERT_NE(rt, nullptr);
      EXPECT_EQ(rt->bytes, t.bytes);
      EXPECT_EQ(std::memcmp(rt->data, t.data, t.bytes), 0) << t.name;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(rt->data) % alignment, 0u) << t.name;
    }
  }
}

}  // namespace
