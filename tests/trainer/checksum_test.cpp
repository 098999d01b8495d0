// Tests for trainer/checksum: the standard CRC-32 and FNV-1a 64 check values, chaining over several
// buffers, and both sums of a file in one pass.
#include "trainer/formats/checksum.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <string>

namespace trainer {
namespace {

TEST(Crc32Test, StandardCheckValues) {
  // "123456789" -> 0xCBF43926 is the catalogued check value of CRC-32/ISO-HDLC (zlib's crc32).
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
  EXPECT_EQ(crc32("", 0), 0u);
  const std::string fox = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(crc32(fox.data(), fox.size()), 0x414FA339u);  // python3 -c "import zlib; zlib.crc32(...)"
}

TEST(Crc32Test, ChainingEqualsOneShotAtEverySplit) {
  std::string s;
  for (int i = 0; i < 100; ++i) s.push_back(static_cast<char>(i * 37 + 11));
  const uint32_t whole = crc32(s.data(), s.size());
  for (size_t cut = 0; cut <= s.size(); ++cut) {
    EXPECT_EQ(crc32(s.data() + cut, s.size() - cut, crc32(s.data(), cut)), whole) << cut;
  }
}

TEST(Crc32Test, DetectsASingleFlippedBit) {
  std::string s(4096, 'a');
  const uint32_t before = crc32(s.data(), s.size());
  s[1234] ^= 0x10;
  EXPECT_NE(crc32(s.data(), s.size()), before);
}

TEST(Fnv1a64Test, KnownValuesAndChaining) {
  // The published FNV-1a 64 test vectors (offset basis for "", 0xaf63dc4c8601ec8c for "a").
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
  EXPECT_EQ(fnv1a64("bar", fnv1a64("foo")), fnv1a64("foobar"));
}

TEST(FileSumsTest, BothSumsOfAFileInOnePass) {
  const std::string path = ::testing::TempDir() + "/checksum_test_file.bin";
  std::string data(3 << 20, '\0');  // more than one read buffer
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) >> 3);
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
  }
  auto sums = file_sums(path);
  ASSERT_TRUE(sums.ok()) << sums.status().to_string();
  EXPECT_EQ(sums->bytes, data.size());
  EXPECT_EQ(sums->crc32, crc32(data.data(), data.size()));
  EXPECT_EQ(sums->fnv1a64, fnv1a64(data));
  EXPECT_EQ(hex32(0xabcu), "00000abc");
  EXPECT_EQ(hex64(0xabcull), "0000000000000abc");
  std::remove(path.c_str());
  auto missing = file_sums(path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().to_string().find(path), std::string::npos);
}

}  // namespace
}  // namespace trainer
