// Tests for common/toml/toml_fields.h: the typed TOML field readers every config file goes through.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "common/toml/toml_fields.h"

namespace {

using common::tomlf::Fields;
using common::tomlf::Types;

toml::table parse(const char* text) { return toml::parse(std::string_view(text), std::string_view("cfg.toml")); }

std::string message(const common::Status& s) { return s.ok() ? "ok" : s.message(); }

TEST(TomlFields, NumbersTakeIntegersAndFloatsAndCheckTheirRange) {
  const toml::table t = parse("a = 3\nb = 2.5\nc = \"x\"\nd = true\ne = 120\n");
  const Fields f(t, "cfg.toml");
  double a = 0, b = 0, untouched = 7;
  EXPECT_TRUE(f.number("a", &a).ok());
  EXPECT_EQ(a, 3.0);
  EXPECT_TRUE(f.number_in("b", 0, 10, &b).ok());
  EXPECT_EQ(b, 2.5);
  EXPECT_TRUE(f.number("absent", &untouched).ok());
  EXPECT_EQ(untouched, 7.0);
  EXPECT_EQ(message(f.number("c", &a)), "cfg.toml:3:5: 'c' must be a number");
  EXPECT_EQ(message(f.number("d", &a)), "cfg.toml:4:5: 'd' must be a number");
  EXPECT_EQ(message(f.number_in("e", 0, 100, &a)), "cfg.toml:5:5: 'e' = 120 is out of range [0, 100]");
  EXPECT_EQ(message(f.number_in("absent", 0, 1, &a, /*required=*/true)),
            "cfg.toml:1:1: missing required key 'absent'");
}

TEST(TomlFields, IntegersRefuseFloatsAndCheckTheirRange) {
  const toml::table t = parse("n = 5\nx = 2.0\nbig = 5000\nflag = true\n");
  const Fields f(t, "cfg.toml");
  int n = 0;
  int64_t wide = 0;
  EXPECT_TRUE(f.integer_in("n", 1, 10, &n).ok());
  EXPECT_EQ(n, 5);
  EXPECT_TRUE(f.integer("big", &wide).ok());
  EXPECT_EQ(wide, 5000);
  EXPECT_EQ(message(f.integer("x", &n)), "cfg.toml:2:5: 'x' must be an integer");
  EXPECT_EQ(message(f.integer_in("big", 0, 4096, &n)), "cfg.toml:3:7: 'big' = 5000 is out of range [0, 4096]");
  EXPECT_EQ(message(f.integer_in("absent", 1, 2, &n, /*required=*/true)),
            "cfg.toml:1:1: missing required key 'absent'");
  // Strict: a boolean is not an integer; with toml++'s conversions it reads as 1.
  EXPECT_EQ(message(f.integer("flag", &n)), "cfg.toml:4:8: 'flag' must be an integer");
  const Fields lenient(t, "cfg.toml", Types::kConversions);
  EXPECT_TRUE(lenient.integer("flag", &n).ok());
  EXPECT_EQ(n, 1);
  EXPECT_EQ(message(lenient.integer("x", &n)), "cfg.toml:2:5: 'x' must be an integer");
}

TEST(TomlFields, StringsAndBooleans) {
  const toml::table t = parse("s = \"hi\"\nb = false\ni = 1\n");
  const Fields f(t, "cfg.toml");
  std::string s;
  std::optional<std::string> os;
  bool b = true;
  EXPECT_TRUE(f.string("s", &s).ok());
  EXPECT_EQ(s, "hi");
  EXPECT_TRUE(f.string("absent", &os).ok());
  EXPECT_FALSE(os.has_value());
  EXPECT_TRUE(f.boolean("b", &b).ok());
  EXPECT_FALSE(b);
  EXPECT_EQ(message(f.string("i", &s)), "cfg.toml:3:5: 'i' must be a string");
  EXPECT_EQ(message(f.boolean("i", &b)), "cfg.toml:3:5: 'i' must be true or false");
  const Fields lenient(t, "cfg.toml", Types::kConversions);
  EXPECT_TRUE(lenient.boolean("i", &b).ok());
  EXPECT_TRUE(b);
}

TEST(TomlFields, MessagesCanNameTheTableInsteadOfThePosition) {
  const toml::table doc = parse("[lora]\nrank = \"big\"\nalpha = true\n");
  Fields f(*doc["lora"].as_table(), "run.toml");
  f.in_table("[lora]");
  std::optional<int> rank;
  std::optional<double> alpha;
  EXPECT_EQ(message(f.integer("rank", &rank)), "run.toml: [lora] rank must be an integer");
  EXPECT_EQ(message(f.number("alpha", &alpha)), "run.toml: [lora] alpha must be a number");
  EXPECT_FALSE(rank.has_value());
  EXPECT_EQ(message(f.bad("targets", "must hold strings")), "run.toml: [lora] targets must hold strings");
}

TEST(TomlFields, ParseErrorsNameFileLineAndColumn) {
  try {
    const toml::table t = toml::parse(std::string_view("a = = 1\n"), std::string_view("bad.toml"));
    FAIL() << "the text parsed into " << t.size() << " keys";
  } catch (const toml::parse_error& e) {
    const std::string m = common::tomlf::parse_error(e, "bad.toml").message();
    EXPECT_EQ(m.rfind("bad.toml:1:5: ", 0), 0u) << m;
  }
}

}  // namespace
