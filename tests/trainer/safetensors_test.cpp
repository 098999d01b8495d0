// Tests for trainer/safetensors: round trip, alignment, get() contracts, write errors, and every kind
// of damaged file (truncated, header past the end, bad JSON, bad offsets, overlap, unknown dtype).
#include "trainer/formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "common/atomic_file.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::Status;
using common::StatusCode;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ns_st_" + std::to_string(::getpid()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with the given header text (unpadded) followed by `data_bytes` bytes of 0xAB.
  std::string handmade(const std::string& name, const std::string& header, size_t data_bytes,
                       uint64_t claimed_header_bytes = UINT64_MAX) {
    uint64_t n = claimed_header_bytes == UINT64_MAX ? header.size() : claimed_header_bytes;
    std::string blob(8, '\0');
    for (int i = 0; i < 8; ++i) blob[i] = static_cast<char>(n >> (8 * i));
    blob += header;
    blob.append(data_bytes, static_cast<char>(0xAB));
    std::string p = path(name);
    EXPECT_TRUE(common::write_file_atomic(p, blob).ok());
    return p;
  }

  void expect_corrupt(const std::string& p, const std::string& fragment) {
    auto r = SafetensorsFile::open(p);
    ASSERT_FALSE(r.ok()) << "accepted " << p;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().to_string();
    EXPECT_NE(r.status().message().find(p), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  }

  fs::path dir_;
};

TEST(DTypeTest, NamesAndSizes) {
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16, DType::kI8, DType::kU8, DType::kI32, DType::kI64}) {
    auto back = dtype_from_name(dtype_name(d));
    ASSERT_TRUE(back.has_value()) << dtype_name(d);
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_STREQ(dtype_name(DType::kBF16), "BF16");
  EXPECT_FALSE(dtype_from_name("F64").has_value());
  EXPECT_FALSE(dtype_from_name("f32").has_value());
}

TEST_F(SafetensorsTest, RoundTripPreservesEveryTensorAndMetadata) {
  std::vector<float> w(2 * 3);
  std::iota(w.begin(), w.end(), -2.5f);
  std::vector<int32_t> ids = {7, -1, 50256};
  std::vector<uint16_t> half = {0x3F80, 0xC000};  // BF16 1.0, -2.0
  int64_t step = 123456789012345;
  std::vector<uint8_t> odd = {1, 2, 3};  // 3 bytes: the next tensor starts unaligned in the data
  std::vector<TensorRef> ts = {
      {"w", DType::kF32, {2, 3}, w.data(), w.size() * 4},
      {"odd", DType::kU8, {3}, odd.data(), 3},
      {"ids", DType::kI32, {3}, ids.data(), ids.size() * 4},
      {"half", DType::kBF16, {2}, half.data(), 4},
      {"step", DType::kI64, {}, &step, 8},
      {"empty", DType::kF32, {0, 4}, nullptr, 0},
  };
  std::string p = path("model.safetensors");
  ASSERT_TRUE(write_safetensors(p, ts, {{"format", "pt"}, {"step", "10"}}).ok());

  auto r = SafetensorsFile::open(p);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const SafetensorsFile& f = **r;
  EXPECT_EQ(f.tensors().size(), ts.size());
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.metadata().at("step"), "10");
  for (const TensorRef& t : ts) {
    auto e = f.get(t.name, t.dtype, t.shape);
    ASSERT_TRUE(e.ok()) << e.status().to_string();
    ASSERT_EQ((*e)->bytes, t.bytes) << t.name;
    if (t.bytes) {
      EXPECT_EQ(std::memcmp((*e)->data, t.data, t.bytes), 0) << t.name;
    }
  }
  // The header is padded so that the data section starts 8-byte aligned.
  const uint8_t* first = f.tensors().at("w").data;
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % 8, 0u);
  // No temporary is left beside the file.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(SafetensorsTest, GetReportsMissingAndMismatchedTensors) {
  float x[4] = {1, 2, 3, 4};
  std::string p = path("a.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"x", DType::kF32, {2, 2}, x, sizeof x}}).ok());
  auto f = SafetensorsFile::open(p);
  ASSERT_TRUE(f.ok());
  auto missing = (*f)->get("y", DType::kF32, {2, 2});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'y'"), std::string::npos);
  auto shape = (*f)->get("x", DType::kF32, {4});
  ASSERT_FALSE(shape.ok());
  EXPECT_EQ(shape.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(shape.status().message().find("F32 (2, 2), expected F32 (4,)"), std::string::npos)
      << shape.status().message();
  auto dtype = (*f)->get("x", DType::kI32, {2, 2});
  ASSERT_FALSE(dtype.ok());
  EXPECT_EQ(dtype.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SafetensorsTest, WriteRejectsBadTensorsAndLeavesTheOldFile) {
  std::string p = path("keep.safetensors");
  float x[2] = {1, 2};
  ASSERT_TRUE(write_safetensors(p, {{"x", DType::kF32, {2}, x, 8}}).ok());
  auto before = common::read_file(p);
  ASSERT_TRUE(before.ok());

  Status s = write_safetensors(p, {{"x", DType::kF32, {3}, x, 8}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = write_safetensors(p, {{"x", DType::kF32, {2}, x, 8}, {"x", DType::kF32, {2}, x, 8}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  s = write_safetensors(p, {{"__metadata__", DType::kF32, {2}, x, 8}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*common::read_file(p), *before);

  s = write_safetensors(path("no/such/dir/x.safetensors"), {{"x", DType::kF32, {2}, x, 8}});
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(SafetensorsTest, MissingFileIsNotFound) {
  auto r = SafetensorsFile::open(path("absent.safetensors"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
}

TEST_F(SafetensorsTest, EveryTruncationIsDetected) {
  std::vector<float> w(16, 0.5f);
  std::string p = path("full.safetensors");
  ASSERT_TRUE(write_safetensors(p, {{"w", DType::kF32, {4, 4}, w.data(), 64}}).ok());
  std::string blob = *common::read_file(p);
  for (size_t cut : {size_t{0}, size_t{5}, size_t{8}, size_t{20}, blob.size() - 64, blob.size() - 1}) {
    std::string q = path("cut" + std::to_string(cut) + ".safetensors");
    ASSERT_TRUE(common::write_file_atomic(q, blob.substr(0, cut)).ok());
    auto r = SafetensorsFile::open(q);
    ASSERT_FALSE(r.ok()) << "accepted a file cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << cut << ": " << r.status().to_string();
    EXPECT_NE(r.status().message().find(q), std::string::npos);
  }
}

TEST_F(SafetensorsTest, HeaderLengthBeyondTheFile) {
  expect_corrupt(handmade("long.st", "{}", 0, 1000), "runs past the end");
  expect_corrupt(handmade("huge.st", "{}", 0, uint64_t{1} << 62), "implausible");
}

TEST_F(SafetensorsTest, BadHeaderJson) {
  expect_corrupt(handmade("json.st", "{\"x\": {\"dtype\": ", 0), "not JSON");
  expect_corrupt(handmade("arr.st", "[1, 2]", 0), "not a JSON object");
  expect_corrupt(handmade("fields.st", R"({"x": {"dtype": "F32"}})", 0), "needs dtype, shape and data_offsets");
  expect_corrupt(handmade("meta.st", R"({"__metadata__": {"k": 3}})", 0), "not a string");
  expect_corrupt(handmade("shape.st", R"({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
                 "negative");
}

TEST_F(SafetensorsTest, OffsetsOutOfRangeOrInconsistent) {
  expect_corrupt(handmade("range.st", R"({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 4),
                 "outside the 4 data bytes");
  expect_corrupt(handmade("rev.st", R"({"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}})", 8),
                 "data_offsets");
  expect_corrupt(handmade("size.st", R"({"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8),
                 "do not match its shape");
  expect_corrupt(handmade("ovf.st",
                          R"({"x": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})", 0),
                 "do not match its shape");
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  expect_corrupt(handmade("overlap.st",
                          R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                          R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                          12),
                 "overlap");
}

TEST_F(SafetensorsTest, UnknownAndUnsupportedDtypes) {
  expect_corrupt(handmade("dt.st", R"({"x": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}})", 4),
                 "unknown dtype 'F33'");
  std::string p = handmade("f64.st", R"({"x": {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}})", 8);
  auto r = SafetensorsFile::open(p);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("F64 is not supported"), std::string::npos);
}

TEST_F(SafetensorsTest, AcceptsUnpaddedHeadersFromOtherWriters) {
  std::string p = handmade("other.st",
                           R"({"__metadata__":{"format":"pt"},"b":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]}})", 4);
  auto r = SafetensorsFile::open(p);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto e = (*r)->get("b", DType::kU8, {2, 2});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)->data[3], 0xAB);
}

}  // namespace
}  // namespace trainer
