// Pretrained models in (trainer/arch/imported_model.h), checked against llama.cpp itself: random
// weights in real layouts written by tests/reference/llamacpp/model_fixture.py as a GGUF file (with
// llama.cpp's gguf-py) and as a Hugging Face directory. nightshift's logits for the GGUF equal
// llama.cpp's on the same file within float tolerance, its greedy continuation is llama.cpp's
// token for token, and the HF directory gives the GGUF's logits. Leaving out llama's q/k
// permutation is caught by the same comparison.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "llamacpp_reference.h"
#include "trainer/arch/imported_model.h"
#include "trainer/model.h"
#include "trainer/model_config_toml.h"
#include "trainer/quant/frozen_base.h"

namespace {

using nlohmann::json;
using trainer::ImportedModel;

std::string q(const std::string& s) { return "'" + s + "'"; }

json harness_json(const std::string& args) {
  bool ok = false;
  const std::string out = llamacpp_ref::run(q(llamacpp_ref::harness()) + " " + args, &ok);
  EXPECT_TRUE(ok) << "harness " << args;
  return ok ? json::parse(out) : json();
}

std::string id_list(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += (s.empty() ? "" : ",") + std::to_string(id);
  return s;
}

// Logits (T, V) of a forward-only model with the weights of `lookup`.
std::vector<float> our_logits(const trainer::ModelConfig& config, const trainer::WeightLookup& lookup,
                              const std::vector<int32_t>& ids) {
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = static_cast<int>(ids.size());
  shape.training = false;
  auto model = trainer::Model::create(config, shape);
  EXPECT_TRUE(model.ok()) << model.status().message();
  if (!model.ok()) return {};
  common::Status filled = trainer::fill_weights(**model, lookup, "test");
  EXPECT_TRUE(filled.ok()) << filled.message();
  (*model)->forward(ids.data(), nullptr);
  const float* lg = (*model)->logits();
  return std::vector<float>(lg, lg + ids.size() * static_cast<size_t>(config.vocab_size));
}

// Greedy continuation of `prompt` by `n` tokens, re-running the forward over the growing sequence.
std::vector<int32_t> our_greedy(const trainer::ModelConfig& config, const trainer::WeightLookup& lookup,
                                std::vector<int32_t> ids, int n) {
  std::vector<int32_t> out;
  for (int g = 0; g < n; ++g) {
    const std::vector<float> lg = our_logits(config, lookup, ids);
    const float* last = lg.data() + (ids.size() - 1) * static_cast<size_t>(config.vocab_size);
    const int32_t next = static_cast<int32_t>(std::max_element(last, last + config.vocab_size) - last);
    out.push_back(next);
    ids.push_back(next);
  }
  return out;
}

class Imported : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  }
  // Writes the fixture of `arch` with `extra` options; its folder.
  std::string fixture(const std::string& arch, const std::string& extra = "") {
    const std::string out = dir_.file(arch + (extra.empty() ? "" : "_variant"));
    const std::string vocab = std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-llama-spm.gguf";
    bool ok = false;
    const std::string cmd = "PYTHONPATH=" + q(llamacpp_ref::gguf_py()) + " /usr/bin/python3 " +
                            q(std::string(NS_SOURCE_DIR) + "/tests/reference/llamacpp/model_fixture.py") + " " + arch +
                            " " + q(out) + " --vocab " + q(vocab) + " " + extra;
    const std::string printed = llamacpp_ref::run(cmd, &ok);
    EXPECT_TRUE(ok) << cmd << "\n" << printed;
    return out;
  }
  llamacpp_ref::ScratchDir dir_{"import"};
};

const std::vector<int32_t> kPrompt = {1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203, 29889};

TEST_P(Imported, GgufAndHfDirectoryGiveTheSameConfigAndLogits) {
  const std::string dir = fixture(GetParam());
  auto gguf = ImportedModel::open(dir + "/model.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.status().message();
  auto hf = ImportedModel::open(dir + "/hf");
  ASSERT_TRUE(hf.ok()) << hf.status().message();
  EXPECT_STREQ((*gguf)->format(), "gguf");
  EXPECT_STREQ((*hf)->format(), "hf");
  EXPECT_EQ((*gguf)->architecture().name, std::string(GetParam()));
  EXPECT_EQ((*gguf)->tokenizer_spec(), "gguf:" + dir + "/model.gguf");
  trainer::ModelConfig a = (*gguf)->config(), b = (*hf)->config();
  a.name = b.name = "x";
  EXPECT_EQ(a.vocab_size, 32000);
  EXPECT_EQ(trainer::model_config_to_toml(a), trainer::model_config_to_toml(b));
  EXPECT_EQ((*gguf)->parameter_count(), (*hf)->parameter_count());
  const std::vector<float> lg = our_logits(a, (*gguf)->f32_lookup(), kPrompt);
  const std::vector<float> lh = our_logits(b, (*hf)->f32_lookup(), kPrompt);
  ASSERT_EQ(lg.size(), lh.size());
  // The same fp32 weights in two layouts give the same logits: exactly for llama (the q/k row
  // permutation moves numbers without changing them); for mamba, mamba2 and granitehybrid up to the rounding of
  // A_log = log(-ssm_a), ssm_a = -exp(A_log) being what the GGUF stores.
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < lg.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(lg[i] - lh[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(lh[i])));
  }
  if (std::string(GetParam()) == "llama") {
    EXPECT_EQ(max_diff, 0.0);
  }
  EXPECT_LT(max_diff, 1e-5 * max_abs) << max_diff;
}

TEST_P(Imported, LogitsAndGreedyContinuationMatchLlamaCpp) {
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  const std::string dir = fixture(GetParam());
  auto m = ImportedModel::open(dir + "/model.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  const trainer::ModelConfig& c = (*m)->config();
  const json r = harness_json("eval --model " + q(dir + "/model.gguf") + " --ids " + id_list(kPrompt) +
                              " --logits --greedy 8 --threads 2");
  const auto ref = r["logits"].get<std::vector<std::vector<double>>>();
  ASSERT_EQ(ref.size(), kPrompt.size());
  const std::vector<float> ours = our_logits(c, (*m)->f32_lookup(), kPrompt);
  double max_diff = 0, max_abs = 0;
  for (size_t t = 0; t < kPrompt.size(); ++t) {
    ASSERT_EQ(ref[t].size(), static_cast<size_t>(c.vocab_size));
    for (int v = 0; v < c.vocab_size; ++v) {
      const double x = ours[t * static_cast<size_t>(c.vocab_size) + static_cast<size_t>(v)];
      max_diff = std::max(max_diff, std::fabs(x - ref[t][static_cast<size_t>(v)]));
      max_abs = std::max(max_abs, std::fabs(ref[t][static_cast<size_t>(v)]));
    }
  }
  // Peaked predictions (logits of tens), equal to float rounding.
  EXPECT_GT(max_abs, 10.0);
  EXPECT_LT(max_diff, 2e-3 * max_abs) << "largest logit difference " << max_diff << " of " << max_abs;
  RecordProperty("max_logit_diff", std::to_string(max_diff));
  const auto greedy = r["greedy"].get<std::vector<int32_t>>();
  EXPECT_EQ(our_greedy(c, (*m)->f32_lookup(), kPrompt, 8), greedy);
}

INSTANTIATE_TEST_SUITE_P(Arch, Imported, ::testing::Values("llama", "qwen2", "qwen3", "mamba", "lfm2", "mamba2",
                                                                  "granitehybrid"));

// Llama 3.1's RoPE scaling: the HF directory (rope_scaling of type llama3) and the GGUF that carries
// the same scaling as rope_freqs.weight (per-pair factors, from which the parameters are recovered)
// both give llama.cpp's logits on that GGUF.
TEST(ImportedLlama3, RopeScalingMatchesLlamaCpp) {
  if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  llamacpp_ref::ScratchDir dir("import_llama3");
  const std::string out = dir.file("llama3");
  bool ok = false;
  llamacpp_ref::run("PYTHONPATH=" + q(llamacpp_ref::gguf_py()) + " /usr/bin/python3 " +
                        q(std::string(NS_SOURCE_DIR) + "/tests/reference/llamacpp/model_fixture.py") + " llama " +
                        q(out) + " --rope-llama3 --vocab " +
                        q(std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-llama-spm.gguf"),
                    &ok);
  ASSERT_TRUE(ok);
  auto g = ImportedModel::open(out + "/model.gguf");
  ASSERT_TRUE(g.ok()) << g.status().message();
  auto m = ImportedModel::open(out + "/hf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  trainer::ModelConfig c = (*m)->config();
  EXPECT_EQ(c.attn.rope_scale_factor, 8.0f);
  const trainer::AttnConfig& ga = (*g)->config().attn;  // recovered from the factors
  EXPECT_FLOAT_EQ(ga.rope_scale_factor, 8.0f);
  EXPECT_EQ(ga.rope_original_context, 64);
  EXPECT_NEAR(ga.rope_high_freq_factor, 4.0f, 1e-3);
  std::vector<int32_t> ids = kPrompt;
  for (int i = 0; i < 40; ++i) ids.push_back(static_cast<int32_t>(100 + 37 * i));  // long enough for low frequencies
  const json r = harness_json("eval --model " + q(out + "/model.gguf") + " --ids " + id_list(ids) + " --logits --threads 2");
  const auto ref = r["logits"].get<std::vector<std::vector<double>>>();
  auto max_diff = [&](const trainer::ModelConfig& config) {
    const std::vector<float> ours = our_logits(config, (*m)->f32_lookup(), ids);
    double d = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      for (int v = 0; v < config.vocab_size; ++v) {
        d = std::max(d, std::fabs(ours[t * static_cast<size_t>(config.vocab_size) + static_cast<size_t>(v)] -
                                  ref[t][static_cast<size_t>(v)]));
      }
    }
    return d;
  };
  const double with = max_diff(c);
  {
    const std::vector<float> ours = our_logits((*g)->config(), (*g)->f32_lookup(), ids);
    double d = 0;
    for (size_t t = 0; t < ids.size(); ++t) {
      for (int v = 0; v < c.vocab_size; ++v) {
        d = std::max(d, std::fabs(ours[t * static_cast<size_t>(c.vocab_size) + static_cast<size_t>(v)] -
                                  ref[t][static_cast<size_t>(v)]));
      }
    }
    EXPECT_LT(d, 0.05) << "the GGUF's recovered scaling";
  }
  c.attn.rope_scale_factor = 0;  // the same model without the scaling is visibly different
  const double without = max_diff(c);
  EXPECT_LT(with, 0.05) << "with llama3 scaling";
  EXPECT_GT(without, 20 * with + 0.5) << "the scaling made no difference";
}

// The same comparison catches a loader that forgets llama.cpp's q/k row permutation: read the
// GGUF's q and k as stored (no transform) and the logits and the continuation are wrong.
TEST(ImportedLlama, LeavingOutTheQkPermutationIsCaught) {
  if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
  if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
  llamacpp_ref::ScratchDir dir("import_permute");
  const std::string out = dir.file("llama");
  bool ok = false;
  llamacpp_ref::run("PYTHONPATH=" + q(llamacpp_ref::gguf_py()) + " /usr/bin/python3 " +
                        q(std::string(NS_SOURCE_DIR) + "/tests/reference/llamacpp/model_fixture.py") + " llama " +
                        q(out) + " --vocab " + q(std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-llama-spm.gguf"),
                    &ok);
  ASSERT_TRUE(ok);
  auto m = ImportedModel::open(out + "/model.gguf");
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto file = trainer::formats::GgufFile::open(out + "/model.gguf");
  ASSERT_TRUE(file.ok());
  const trainer::WeightLookup right = (*m)->f32_lookup();
  std::vector<float> raw;
  // As `right`, except that q and k come as the file stores them.
  trainer::WeightLookup forgetful = [&](const std::string& name, const std::vector<int64_t>& shape)
      -> common::Result<const float*> {
    const bool qk = name.ends_with("attn.q.weight") || name.ends_with("attn.k.weight");
    if (!qk) return right(name, shape);
    const std::string gg = "blk." + name.substr(7, name.find('.', 7) - 7) + (name.ends_with("q.weight") ? ".attn_q.weight" : ".attn_k.weight");
    const trainer::formats::GgufTensor* t = (*file)->find_tensor(gg);
    if (t == nullptr) return common::Status::NotFound(gg);
    raw.resize(static_cast<size_t>(t->elements()));
    t->traits->decode_row(t->data, raw.data(), t->elements());
    return static_cast<const float*>(raw.data());
  };
  const trainer::ModelConfig& c = (*m)->config();
  const json r = harness_json("eval --model " + q(out + "/model.gguf") + " --ids " + id_list(kPrompt) +
                              " --logits --greedy 8 --threads 2");
  const auto ref = r["logits"].get<std::vector<std::vector<double>>>();
  auto max_diff = [&](const std::vector<float>& ours) {
    double d = 0;
    for (size_t t = 0; t < kPrompt.size(); ++t) {
      for (int v = 0; v < c.vocab_size; ++v) {
        d = std::max(d, std::fabs(ours[t * static_cast<size_t>(c.vocab_size) + static_cast<size_t>(v)] - ref[t][static_cast<size_t>(v)]));
      }
    }
    return d;
  };
  const double good = max_diff(our_logits(c, right, kPrompt));
  const double bad = max_diff(our_logits(c, forgetful, kPrompt));
  EXPECT_LT(good, 0.05);
  EXPECT_GT(bad, 1.0) << "without the permutation the logits should be far off";
  EXPECT_NE(our_greedy(c, forgetful, kPrompt, 8), r["greedy"].get<std::vector<int32_t>>());
}

}  // namespace

namespace {

double mean_nll(const std::vector<float>& logits, const std::vector<int32_t>& ids, int V) {
  double sum = 0;
  for (size_t t = 0; t + 1 < ids.size(); ++t) {
    const float* lg = logits.data() + t * static_cast<size_t>(V);
    const double mx = *std::max_element(lg, lg + V);
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(lg[v] - mx);
    sum += mx + std::log(z) - lg[ids[t + 1]];
  }
  return sum / static_cast<double>(ids.size() - 1);
}

// A llama wide enough for k-quants (rows of 256), quantized by llama.cpp itself.
class QuantizedLlama : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = llamacpp_ref::gguf_py_missing(); !why.empty()) GTEST_SKIP() << why;
    if (std::string why = llamacpp_ref::harness_missing(); !why.empty()) GTEST_SKIP() << why;
    bool ok = false;
    const std::string out = llamacpp_ref::run(
        "PYTHONPATH=" + q(llamacpp_ref::gguf_py()) + " /usr/bin/python3 " +
            q(std::string(NS_SOURCE_DIR) + "/tests/reference/llamacpp/model_fixture.py") + " llama " + q(dir_.file("m")) +
            " --vocab " + q(std::string(NS_LLAMACPP_SRC) + "/models/ggml-vocab-llama-spm.gguf") +
            " --d 256 --ff 512 --heads 4 --kv-heads 2",
        &ok);
    ASSERT_TRUE(ok) << out;
  }
  std::string quantized(const std::string& ftype) {
    const std::string path = dir_.file("m/" + ftype + ".gguf");
    harness_json("model-quantize --in " + q(dir_.file("m/model.gguf")) + " --out " + q(path) + " --ftype " + ftype);
    return path;
  }
  llamacpp_ref::ScratchDir dir_{"import_quant"};
};

// Q8_0 and Q4_K_M files (what llama-quantize makes) score within their quantization error of the F32
// model, and as llama.cpp scores the same file.
TEST_F(QuantizedLlama, ScoreNearTheF32ModelAndAsLlamaCppDoes) {
  auto f32 = ImportedModel::open(dir_.file("m/model.gguf"));
  ASSERT_TRUE(f32.ok()) << f32.status().message();
  const trainer::ModelConfig& c = (*f32)->config();
  const double nll_f32 = mean_nll(our_logits(c, (*f32)->f32_lookup(), kPrompt), kPrompt, c.vocab_size);
  for (const char* ftype : {"Q8_0", "Q4_K_M"}) {
    const std::string path = quantized(ftype);
    auto m = ImportedModel::open(path);
    ASSERT_TRUE(m.ok()) << m.status().message();
    const double ours = mean_nll(our_logits((*m)->config(), (*m)->f32_lookup(), kPrompt), kPrompt, c.vocab_size);
    const double theirs = harness_json("eval --model " + q(path) + " --ids " + id_list(kPrompt) + " --threads 2")["nll"];
    std::printf("%s: nll ours %.5f, llama.cpp %.5f, f32 model %.5f\n", ftype, ours, theirs, nll_f32);
    EXPECT_NEAR(ours, theirs, 0.02 * std::fabs(theirs)) << ftype;
    EXPECT_NEAR(ours, nll_f32, (std::string(ftype) == "Q8_0" ? 0.02 : 0.1) * std::fabs(nll_f32)) << ftype;
    EXPECT_NE(ours, nll_f32) << ftype << ": the quantized weights were not read";
  }
}

// A qlora model over the mapped Q4_K_M file (fresh adapters add nothing) gives the logits of a full
// model holding the same weights decoded to fp32: the mapped path (tiles decoded through the type
// table, q/k read in llama.cpp's row order) is the same product.
TEST_F(QuantizedLlama, MappedBaseGivesTheLogitsOfItsDecodedWeights) {
  const std::string path = quantized("Q4_K_M");
  auto m = ImportedModel::open(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const trainer::ModelConfig& c = (*m)->config();
  const std::vector<float> full = our_logits(c, (*m)->f32_lookup(), kPrompt);
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = static_cast<int>(kPrompt.size());
  shape.training = false;
  shape.mode = trainer::TrainMode::kQlora;
  shape.lora_rank = 4;
  shape.lora.mapped_base = true;
  auto model = trainer::Model::create(c, shape);
  ASSERT_TRUE(model.ok()) << model.status().message();
  for (const trainer::LoraBaseEntry& e : (*model)->lora()->bases()) {
    auto t = (*m)->typed(e.name, e.mapped->rows, e.mapped->cols);
    ASSERT_TRUE(t.ok()) << t.status().message();
    ASSERT_TRUE((*model)->lora()->map_base(e.name, *t).ok());
  }
  ASSERT_TRUE(trainer::fill_frozen_base(**model, (*m)->f32_lookup(), path, /*skip_linear=*/true).ok());
  (*model)->lora()->init_adapters(3);
  (*model)->forward(kPrompt.data(), nullptr);
  const float* lg = (*model)->logits();
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < full.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(lg[i] - full[i])));
    max_abs = std::max(max_abs, static_cast<double>(std::fabs(full[i])));
  }
  EXPECT_LT(max_diff, 1e-4 * max_abs) << "largest difference " << max_diff << " of " << max_abs;
}

}  // namespace
