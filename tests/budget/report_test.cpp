// The report: stable JSON keys for scripts, text that fits 80 columns, markdown tables.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "budget/report.h"
#include "profiles/loader.h"

namespace budget {
namespace {

BudgetReport make(const std::string& profile, const std::string& model, trainer::TrainMode mode) {
  RunConfig r;
  r.mode = mode;
  r.base_precision = default_base_precision(mode);
  common::Result<BudgetReport> rep =
      build_report(*profiles::builtin_profile(profile), *trainer::model_preset(model), r);
  EXPECT_TRUE(rep.ok()) << rep.status().message();
  return *rep;
}

TEST(Report, JsonHasTheDocumentedKeys) {
  const BudgetReport rep = make("macbook-air-m4-16gb", "bit-axon-3b", trainer::TrainMode::kQlora);
  nlohmann::json j = nlohmann::json::parse(render_report_json(rep));
  EXPECT_EQ(j["profile"], "macbook-air-m4-16gb");
  EXPECT_EQ(j["model"], "bit-axon-3b");
  EXPECT_EQ(j["available_bytes"].get<uint64_t>(), rep.available_bytes);
  EXPECT_GT(j["params_total"].get<int64_t>(), 5'000'000'000);
  for (const char* p : {"f32", "f16", "q8", "q4", "nf4", "ternary"}) {
    EXPECT_TRUE(j["weights_bytes"][p].is_number_unsigned()) << p;
    EXPECT_TRUE(j["inference_bytes"][p]["4096"].is_number_unsigned()) << p;
  }
  EXPECT_GT(j["weights_bytes"]["f32"].get<uint64_t>(), j["weights_bytes"]["f16"].get<uint64_t>());
  for (const char* ctx : {"1024", "4096", "16384", "32768", "65536"}) {
    EXPECT_TRUE(j["kv_cache_bytes"][ctx].is_number_unsigned()) << ctx;
  }
  const nlohmann::json& t = j["training"];
  EXPECT_EQ(t["mode"], "qlora");
  uint64_t sum = 0;
  for (const char* k : {"weights_bytes", "frozen_weights_bytes", "gradients_bytes", "optimizer_moments_bytes",
                        "activations_bytes", "scratch_bytes", "runtime_overhead_bytes"}) {
    ASSERT_TRUE(t[k].is_number_unsigned()) << k;
    sum += t[k].get<uint64_t>();
  }
  EXPECT_EQ(t["total_bytes"].get<uint64_t>(), sum);
  EXPECT_TRUE(j["fits"].is_boolean());
  EXPECT_EQ(j["fits"].get<bool>(), t["total_bytes"].get<uint64_t>() <= rep.available_bytes);
  EXPECT_TRUE(j["training_by_mode"].contains("full"));
  EXPECT_TRUE(j["training_by_mode"].contains("lora"));
  EXPECT_TRUE(j["recommended"].is_object());
}

TEST(Report, TextFitsEightyColumnsAndHasEverySection) {
  for (const char* model : {"bit-axon-3b", "gpt-tiny", "magellano-3b"}) {
    const std::string text = render_report_text(make("raspberry-pi-5-8gb", model, trainer::TrainMode::kLora));
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) EXPECT_LE(line.size(), 80u) << model << ": " << line;
    for (const char* section : {"Available memory", "Parameters by component", "Weight memory by precision",
                                "SSM state", "KV cache by context", "Inference memory", "Training memory by mode",
                                "Recommended configuration"}) {
      EXPECT_NE(text.find(section), std::string::npos) << section;
    }
  }
}

TEST(Report, MarkdownIsTables) {
  const std::string md = render_report_markdown(make("x86-laptop-16gb", "gpt-small", trainer::TrainMode::kFull));
  EXPECT_EQ(md.rfind("# Memory budget", 0), 0u);
  EXPECT_NE(md.find("## Training memory by mode"), std::string::npos);
  EXPECT_NE(md.find("|---|"), std::string::npos);
}

TEST(Table, CutsTheLastColumnToTheWidth) {
  Table t;
  t.headers = {"a", "b"};
  t.rows = {{"x", std::string(200, 'y')}};
  const std::string s = render_text(t, 40);
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) EXPECT_LE(line.size(), 40u);
  EXPECT_NE(s.find("..."), std::string::npos);
}

}  // namespace
}  // namespace budget
