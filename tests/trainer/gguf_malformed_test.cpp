// Malformed GGUF files (built byte by byte here, so no reference is needed): each is refused by
// GgufFile::open with one error naming the file and what is wrong, never a crash or a read past
// the end; and the writer leaves nothing behind when it refuses or fails.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/formats/gguf.h"
#include "trainer/quant/ggml_types.h"

namespace {

using trainer::formats::GgufFile;
using trainer::formats::GgufTensorRef;
using trainer::formats::GgufValue;
namespace quant = trainer::quant;

// A GGUF file assembled field by field; `at` remembers where fields were, to damage them later.
struct Bytes {
  std::string b;
  template <typename T>
  size_t put(T v) {
    const size_t at = b.size();
    b.append(reinterpret_cast<const char*>(&v), sizeof(T));
    return at;
  }
  size_t put_str(const std::string& s) {
    const size_t at = put<uint64_t>(s.size());
    b += s;
    return at;
  }
  template <typename T>
  void set(size_t at, T v) {
    std::memcpy(&b[at], &v, sizeof(T));
  }
};

// One string key, one u32 array, and two tensors: "tok_embd" Q8_0 {64, 2} and "norm" F32 {8}.
struct Layout {
  Bytes f;
  size_t version, n_tensors, str_len, arr_count, arr_type, emb_dim0, emb_type, emb_offset, norm_offset;
  size_t data_start;
};

Layout valid_file() {
  Layout l;
  Bytes& f = l.f;
  f.put<uint32_t>(0x46554747);
  l.version = f.put<uint32_t>(3);
  l.n_tensors = f.put<uint64_t>(2);
  f.put<uint64_t>(2);
  f.put_str("general.architecture");
  f.put<uint32_t>(8);
  l.str_len = f.put_str("llama");
  f.put_str("llama.some_ids");
  f.put<uint32_t>(9);
  l.arr_type = f.put<uint32_t>(4);
  l.arr_count = f.put<uint64_t>(3);
  for (uint32_t v : {1u, 2u, 3u}) f.put<uint32_t>(v);
  f.put_str("tok_embd");
  f.put<uint32_t>(2);
  l.emb_dim0 = f.put<uint64_t>(64);
  f.put<uint64_t>(2);
  l.emb_type = f.put<uint32_t>(quant::kGgmlQ8_0);
  l.emb_offset = f.put<uint64_t>(0);
  f.put_str("norm");
  f.put<uint32_t>(1);
  f.put<uint64_t>(8);
  f.put<uint32_t>(quant::kGgmlF32);
  l.norm_offset = f.put<uint64_t>(160);  // 4 Q8_0 blocks = 136 bytes, aligned up to 160
  f.b.resize((f.b.size() + 31) / 32 * 32, '\0');
  l.data_start = f.b.size();
  f.b.append(160 + 32, '\x01');
  return l;
}

class GgufMalformed : public ::testing::Test {
 protected:
  llamacpp_ref::ScratchDir dir_{"gguf_malformed"};
  // Writes `bytes`, opens it, and returns the error text (fails the test if it opened).
  std::string refuse(const std::string& bytes, const std::string& name = "bad.gguf") {
    const std::string path = dir_.file(name);
    llamacpp_ref::write_bytes(path, bytes.data(), bytes.size());
    auto f = GgufFile::open(path);
    EXPECT_FALSE(f.ok()) << name << " opened";
    const std::string msg = f.ok() ? "" : f.status().to_string();
    EXPECT_NE(msg.find(path), std::string::npos) << "the error does not name the file: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "not one line: " << msg;
    return msg;
  }
};

TEST_F(GgufMalformed, TheValidFileOpens) {
  Layout l = valid_file();
  const std::string path = dir_.file("good.gguf");
  llamacpp_ref::write_bytes(path, l.f.b.data(), l.f.b.size());
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ((*f)->tensors().size(), 2u);
  EXPECT_EQ((*f)->find_tensor("tok_embd")->bytes, 136u);
  EXPECT_EQ((*f)->data_offset(), l.data_start);
  EXPECT_EQ((*(*f)->get_array("llama.some_ids", trainer::formats::GgufType::kU32))->ints,
            (std::vector<int64_t>{1, 2, 3}));
}

TEST_F(GgufMalformed, BadMagicAndVersions) {
  Layout l = valid_file();
  std::string b = l.f.b;
  b[0] = 'X';
  EXPECT_NE(refuse(b).find("bad magic"), std::string::npos);
  b = l.f.b;
  std::memcpy(&b[l.version], "\0\0\0\3", 4);  // version 3 written big-endian
  EXPECT_NE(refuse(b).find("big-endian"), std::string::npos);
  EXPECT_NE(refuse("").find("empty"), std::string::npos);
}

TEST_F(GgufMalformed, EveryTruncationIsRefused) {
  const Layout l = valid_file();
  // Every cut inside the header, and cuts inside each tensor's data.
  for (size_t n = 1; n < l.f.b.size(); n += (n < l.data_start ? 1 : 37)) {
    const std::string msg = refuse(l.f.b.substr(0, n), "cut" + std::to_string(n) + ".gguf");
    if (n >= l.data_start) {
      EXPECT_NE(msg.find("runs past the end of the file"), std::string::npos) << msg;
    }
  }
}

TEST_F(GgufMalformed, SizesPastTheEnd) {
  Layout l = valid_file();
  Layout big = l;
  big.f.set<uint64_t>(l.emb_dim0, 64 * 1000);  // the tensor now runs past the end
  std::string msg = refuse(big.f.b);
  EXPECT_NE(msg.find("tensor 'tok_embd'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("runs past the end of the file"), std::string::npos) << msg;
  big = l;
  big.f.set<uint64_t>(l.emb_offset, 1ull << 62);
  EXPECT_NE(refuse(big.f.b).find("tensor 'tok_embd'"), std::string::npos);
  big = l;
  big.f.set<uint64_t>(l.str_len, 1ull << 40);
  EXPECT_NE(refuse(big.f.b).find("runs past the end"), std::string::npos);
  big = l;
  big.f.set<uint64_t>(l.arr_count, 1ull << 60);
  msg = refuse(big.f.b);
  EXPECT_NE(msg.find("'llama.some_ids'"), std::string::npos) << msg;
  big = l;
  big.f.set<uint64_t>(l.n_tensors, 1ull << 50);
  EXPECT_NE(refuse(big.f.b).find("cannot fit"), std::string::npos);
}

TEST_F(GgufMalformed, UnknownTypesAreNamed) {
  Layout l = valid_file();
  Layout bad = l;
  bad.f.set<uint32_t>(l.emb_type, 16);  // IQ2_XXS: a real ggml type nightshift does not decode
  std::string msg = refuse(bad.f.b);
  EXPECT_NE(msg.find("tensor 'tok_embd' has type IQ2_XXS"), std::string::npos) << msg;
  EXPECT_NE(msg.find("supported: F32, F16, Q4_0"), std::string::npos) << msg;
  bad = l;
  bad.f.set<uint32_t>(l.emb_type, 999);
  EXPECT_NE(refuse(bad.f.b).find("has type type 999"), std::string::npos);
  bad = l;
  bad.f.set<uint32_t>(l.arr_type, 77);
  EXPECT_NE(refuse(bad.f.b).find("unknown array element type 77"), std::string::npos);
}

TEST_F(GgufMalformed, ShapeAndSizeMismatches) {
  Layout l = valid_file();
  Layout bad = l;
  bad.f.set<uint64_t>(l.emb_dim0, 40);  // Q8_0 rows must be whole blocks of 32
  std::string msg = refuse(bad.f.b);
  EXPECT_NE(msg.find("rows of 40 values, not a multiple of its block of 32"), std::string::npos) << msg;
  bad = l;
  bad.f.set<uint64_t>(l.norm_offset, 128);  // overlaps tok_embd's 136 bytes at 0
  EXPECT_NE(refuse(bad.f.b).find("overlap"), std::string::npos);
  bad = l;
  bad.f.set<uint64_t>(l.norm_offset, 150);  // not a multiple of the alignment
  EXPECT_NE(refuse(bad.f.b).find("not a multiple of the alignment 32"), std::string::npos);
}

TEST(GgufWriter, RefusesBadTensorsAndLeavesNothingBehind) {
  llamacpp_ref::ScratchDir dir("gguf_writer_refuses");
  const std::string path = dir.file("out.gguf");
  const std::vector<float> x(64, 1.0f);
  // An existing good file stays as it was when a later write is refused.
  ASSERT_TRUE(trainer::formats::write_gguf(path, {}, {{"w", quant::kGgmlF32, {64}, x.data(), 256}}).ok());
  const std::vector<char> before = llamacpp_ref::read_bytes(path);
  auto s = trainer::formats::write_gguf(path, {}, {{"w", quant::kGgmlF32, {64}, x.data(), 255}});
  EXPECT_NE(s.to_string().find("255 bytes do not match"), std::string::npos) << s.to_string();
  s = trainer::formats::write_gguf(path, {}, {{"w", quant::kGgmlQ8_0, {48}, x.data(), 51}});
  EXPECT_NE(s.to_string().find("not a multiple of Q8_0's block of 32"), std::string::npos) << s.to_string();
  s = trainer::formats::write_gguf(path, {}, {{"w", 16, {64}, x.data(), 64}});
  EXPECT_NE(s.to_string().find("IQ2_XXS"), std::string::npos) << s.to_string();
  s = trainer::formats::write_gguf(path, {{"k", GgufValue::u32(1)}, {"k", GgufValue::u32(2)}}, {});
  EXPECT_NE(s.to_string().find("'k' repeated"), std::string::npos);
  s = trainer::formats::write_gguf(path, {{"general.alignment", GgufValue::u32(48)}}, {});
  EXPECT_NE(s.to_string().find("power of two"), std::string::npos);
  EXPECT_EQ(llamacpp_ref::read_bytes(path), before);
  // A folder that does not exist: IOError, and no temporary left anywhere.
  s = trainer::formats::write_gguf(dir.file("missing/out.gguf"), {}, {});
  EXPECT_FALSE(s.ok());
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.file(""))) entries += e.path().filename() != "out.gguf";
  EXPECT_EQ(entries, 0);
}

}  // namespace
