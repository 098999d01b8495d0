// The llama.cpp reference harness (tests/reference/llamacpp/harness.c) that later checks rely on:
// its tokenizer answers equal llama.cpp's own test vectors, its eval output is self-consistent
// (loss from the logits, greedy path), a LoRA adapter gives the merged model's logits, and a model quantized by llama_model_quantize (what
// llama-quantize runs) holds exactly the bytes our encoders produce from the same F32 weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/formats/gguf.h"
#include "trainer/quant/ggml_types.h"

namespace {

using trainer::formats::GgufFile;
namespace quant = trainer::quant;
using nlohmann::json;

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

json harness_json(const std::string& args) {
  bool ok = false;
  const std::string out = llamacpp_ref::run(shell_quote(llamacpp_ref::harness()) + " " + args, &ok);
  EXPECT_TRUE(ok) << "harness " << args;
  return ok ? json::parse(out) : json();
}

std::string models_dir() { return std::string(NS_LLAMACPP_SRC) + "/models/"; }

TEST(LlamacppHarness, TokenizesAsLlamaCppsOwnTestVectors) {
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  int vocabs = 0;
  for (const char* name : {"llama-bpe", "qwen2", "gpt-2", "llama-spm"}) {
    const std::string gguf = models_dir() + "ggml-vocab-" + name + ".gguf";
    std::ifstream out_file(gguf + ".out");
    ASSERT_TRUE(out_file.good()) << gguf << ".out is missing from llama.cpp's source";
    const json got = harness_json("tokenize --split --model " + shell_quote(gguf) + " --text-file " + shell_quote(gguf + ".inp"));
    std::string line;
    size_t i = 0;
    while (std::getline(out_file, line)) {
      std::istringstream ids(line);
      std::vector<int> want;
      for (int id; ids >> id;) want.push_back(id);
      ASSERT_LT(i, got["items"].size()) << name;
      EXPECT_EQ(got["items"][i].get<std::vector<int>>(), want) << name << " item " << i;
      ++i;
    }
    EXPECT_EQ(i, got["items"].size()) << name;
    EXPECT_GT(i, 10u) << name;
    ++vocabs;
  }
  EXPECT_EQ(vocabs, 4);
}

class TinyLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
    if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
    bool ok = false;
    llamacpp_ref::gguf_tool("tiny-llama " + shell_quote(model_), &ok);
    ASSERT_TRUE(ok) << "gguf_py_tool.py tiny-llama failed";
  }
  llamacpp_ref::ScratchDir dir_{"llamacpp_harness"};
  std::string model_ = dir_.file("tiny.gguf");
};

TEST_F(TinyLlama, EvalLossAndGreedyPathAreConsistentWithItsLogits) {
  const std::vector<int> ids = {1, 5, 9, 13, 2, 40, 63, 0};
  std::string list;
  for (int id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  const json r = harness_json("eval --model " + shell_quote(model_) + " --ids " + list + " --logits --greedy 5 --top-k 4");
  ASSERT_EQ(r["n_vocab"], 64);
  ASSERT_EQ(r["positions"].size(), ids.size());
  const auto logits = r["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(logits.size(), ids.size());
  double nll = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    const std::vector<double>& lg = logits[t];
    ASSERT_EQ(lg.size(), 64u);
    double mx = lg[0], z = 0, sum = 0;
    int arg = 0;
    for (int v = 0; v < 64; ++v) {
      if (lg[v] > mx) mx = lg[v], arg = v;
      sum += lg[v];
    }
    for (double x : lg) z += std::exp(x - mx);
    if (t + 1 < ids.size()) nll += mx + std::log(z) - lg[ids[t + 1]];
    const auto& pos = r["positions"][t];
    EXPECT_EQ(pos["top"][0][0].get<int>(), arg) << t;
    EXPECT_EQ(pos["top"].size(), 4u);
    for (size_t k = 1; k < 4; ++k) EXPECT_GE(pos["top"][k - 1][1].get<double>(), pos["top"][k][1].get<double>());
    EXPECT_NEAR(pos["sum"].get<double>(), sum, 1e-4 * (1 + std::fabs(sum))) << t;
  }
  EXPECT_NEAR(r["nll"].get<double>(), nll / static_cast<double>(ids.size() - 1), 1e-6);
  // Peaked random weights: the model is far from uniform (log 64 = 4.16), so a wrong convention
  // in a later comparison shows.
  EXPECT_GT(std::fabs(r["nll"].get<double>() - std::log(64.0)), 1.0);

  // The greedy continuation: its first token is the argmax after the prompt, and scoring the
  // prompt plus the continuation gives every next greedy token as that position's argmax.
  const auto greedy = r["greedy"].get<std::vector<int>>();
  ASSERT_EQ(greedy.size(), 5u);
  EXPECT_EQ(greedy[0], r["positions"][ids.size() - 1]["top"][0][0].get<int>());
  std::string extended = list;
  for (size_t g = 0; g + 1 < greedy.size(); ++g) extended += "," + std::to_string(greedy[g]);
  const json r2 = harness_json("eval --model " + shell_quote(model_) + " --ids " + extended + " --top-k 1");
  for (size_t g = 1; g < greedy.size(); ++g) {
    EXPECT_EQ(r2["positions"][ids.size() - 1 + g]["top"][0][0].get<int>(), greedy[g]) << g;
  }
  // Deterministic: the same question gives the same answer.
  EXPECT_EQ(harness_json("eval --model " + shell_quote(model_) + " --ids " + list + " --logits --greedy 5 --top-k 4"), r);
}

// llama.cpp's GGUF LoRA layout (lora_a (r, In), lora_b (Out, r) in numpy order, scale alpha / r)
// as gguf_py_tool.py writes it: base + adapter gives the logits of the model with BW merged in.
TEST_F(TinyLlama, LoraAdapterGivesTheMergedModelsLogits) {
  bool ok = false;
  const std::string adapter = dir_.file("lora.gguf"), merged = dir_.file("merged.gguf");
  llamacpp_ref::gguf_tool("tiny-lora " + shell_quote(adapter) + " " + shell_quote(merged), &ok);
  ASSERT_TRUE(ok) << "gguf_py_tool.py tiny-lora failed";
  const std::string ids = "1,5,9,13,2,40,63,0";
  using Logits = std::vector<std::vector<double>>;
  const Logits base = harness_json("eval --logits --model " + shell_quote(model_) + " --ids " + ids)["logits"].get<Logits>();
  const Logits with_lora =
      harness_json("eval --logits --model " + shell_quote(model_) + " --lora " + shell_quote(adapter) + " --ids " + ids)["logits"]
          .get<Logits>();
  const Logits merged_logits = harness_json("eval --logits --model " + shell_quote(merged) + " --ids " + ids)["logits"].get<Logits>();
  ASSERT_EQ(with_lora.size(), 8u);
  double diff_merged = 0, diff_base = 0, scale = 0;
  for (size_t t = 0; t < with_lora.size(); ++t) {
    for (size_t v = 0; v < with_lora[t].size(); ++v) {
      diff_merged = std::max(diff_merged, std::fabs(with_lora[t][v] - merged_logits[t][v]));
      diff_base = std::max(diff_base, std::fabs(with_lora[t][v] - base[t][v]));
      scale = std::max(scale, std::fabs(merged_logits[t][v]));
    }
  }
  EXPECT_LT(diff_merged, 1e-3 * scale);  // fp32 sums in another order (measured: 1.7e-4)
  EXPECT_GT(diff_base, 0.1 * scale) << "the adapter should change the logits";
}

TEST_F(TinyLlama, LlamaQuantizeWritesTheBytesOfOurEncoders) {
  auto source = GgufFile::open(model_);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  for (const char* ftype : {"Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "F16", "BF16"}) {
    SCOPED_TRACE(ftype);
    const std::string out = dir_.file(std::string(ftype) + ".gguf");
    harness_json("model-quantize --in " + shell_quote(model_) + " --out " + shell_quote(out) + " --ftype " + ftype);
    auto q = GgufFile::open(out);
    ASSERT_TRUE(q.ok()) << q.status().to_string();
    std::set<std::string> types;
    for (const auto& t : (*q)->tensors()) {
      const auto* src = (*source)->find_tensor(t.name);
      ASSERT_NE(src, nullptr) << t.name;
      ASSERT_EQ(src->dims, t.dims) << t.name;
      types.insert(quant::ggml_type_name(t.type));
      if (t.type == quant::kGgmlF32) {
        EXPECT_EQ(std::memcmp(t.data, src->data, t.bytes), 0) << t.name;
        continue;
      }
      std::vector<uint8_t> ours(t.bytes);
      t.traits->encode_row(reinterpret_cast<const float*>(src->data), ours.data(), t.elements());
      EXPECT_EQ(std::memcmp(ours.data(), t.data, t.bytes), 0) << t.name << " (" << quant::ggml_type_name(t.type) << ")";
      // And decoding gives the weights back within the type's error.
      std::vector<float> back(static_cast<size_t>(t.elements()));
      t.traits->decode_row(t.data, back.data(), t.elements());
      const float* x = reinterpret_cast<const float*>(src->data);
      double err = 0, norm = 0;
      for (size_t i = 0; i < back.size(); ++i) {
        err += (back[i] - x[i]) * (back[i] - x[i]);
        norm += static_cast<double>(x[i]) * x[i];
      }
      EXPECT_LT(std::sqrt(err / norm), 0.15) << t.name;
    }
    EXPECT_GE(types.size(), 2u);  // the norms stay F32 beside the quantized matrices
    if (std::string(ftype) == "Q4_K_M") {
      EXPECT_TRUE(types.count("Q4_K") && types.count("Q6_K")) << "Q4_K_M should mix Q4_K and Q6_K";
    }
  }
}

}  // namespace
