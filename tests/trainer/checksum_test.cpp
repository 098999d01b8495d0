// Tests for trainer/checksum: the standard CRC-32 check values and chaining over several buffers.
#include "trainer/formats/checksum.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace trainer
