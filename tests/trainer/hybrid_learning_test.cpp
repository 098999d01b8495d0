// Learning with the hybrid blocks on real text: hybrid-tiny (ssm, sliding-window attn+moe, ssm+moe)
// with the byte tokenizer on tinyshakespeare (last 10% held out), 100 steps at batch 12 x seq 64,
// must beat the corpus's unigram entropy by a clear margin, and its experts must share the validation
// tokens (no expert dead, none taking the bulk). Skipped with a message when the corpus is absent.
// The long run (2000 steps, next to gpt-tiny) is in scripts/learning-figures.sh and docs/learning.md.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "trainer/data/batch_source.h"
#include "trainer/data/dataset.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/run_shape.h"
#include "trainer/trainer.h"

namespace {

TEST(HybridLearning, HybridTinyLearnsShakespeareWithBalancedExperts) {
  const std::string path = std::string(NS_TEST_DATA_DIR) + "/tinyshakespeare.txt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent; skipping the real-text learning test";
  auto tok = trainer::make_tokenizer("byte");
  ASSERT_TRUE(tok.ok());
  trainer::DatasetOptions opt;
  opt.data_path = path;
  opt.cache_dir = testing::TempDir() + "/ns_hybrid_learning_cache";
  auto data = trainer::TokenDataset::open(opt, **tok);
  ASSERT_TRUE(data.ok()) << data.status().to_string();

  std::map<int32_t, double> counts;
  for (int32_t t : (*data)->train_tokens()) counts[t] += 1;
  const double n = static_cast<double>((*data)->train_tokens().size());
  double unigram = 0.0;
  for (const auto& [t, c] : counts) unigram -= c / n * std::log(c / n);

  auto config = trainer::model_preset("hybrid-tiny");
  ASSERT_TRUE(config.ok());
  const int B = 12, T = 64, eval_batches = 10;
  trainer::SamplerBatchSource train(**data, trainer::Split::kTrain, B, T, 1);
  trainer::SamplerBatchSource val(**data, trainer::Split::kVal, B, T, 1);
  trainer::TrainOptions o;
  o.steps = 100;
  o.warmup = 10;
  o.threads = 1;  // short steps: a second thread mostly waits (and spins) on a machine shared with other tests
  o.lr = 3e-3f;
  o.min_lr = 3e-4f;
  auto t = trainer::Trainer::create(*config, trainer_test::run_shape(B, T), o, &train, &val);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  while (!(*t)->done()) ASSERT_TRUE((*t)->step().ok());
  auto e = (*t)->evaluate(eval_batches);
  ASSERT_TRUE(e.ok());
  std::printf("hybrid-tiny: unigram entropy %.3f nats, val loss after %lld steps %.3f\n", unigram,
              static_cast<long long>(o.steps), e->val_loss);
  EXPECT_LT(e->val_loss, unigram - 0.4);

  // Expert load over validation batches, read from each moe layer's assignment offsets
  // (expert x owns rows [offset[x], offset[x+1]) of the B·T·top_k assignments).
  trainer::Model& model = (*t)->model();
  std::vector<std::string> layers;
  for (const trainer::TensorSpec& s : model.tensors().specs()) {
    if (s.name.rfind("act.blocks.", 0) == 0 && s.name.size() > 11 &&
        s.name.compare(s.name.size() - 11, 11, ".moe.offset") == 0) {
      layers.push_back(s.name);
    }
  }
  ASSERT_EQ(layers.size(), 4u) << "hybrid-tiny has 4 moe layers";
  const int X = config->moe.n_experts;
  std::vector<std::vector<int64_t>> load(layers.size(), std::vector<int64_t>(X, 0));
  std::vector<int32_t> inputs(B * T), targets(B * T);
  val.seek(0);
  for (int b = 0; b < eval_batches; ++b) {
    val.next(inputs.data(), targets.data());
    model.forward(inputs.data(), targets.data());
    for (size_t l = 0; l < layers.size(); ++l) {
      const auto* off = static_cast<const int32_t*>(model.tensors().find(layers[l]));
      for (int x = 0; x < X; ++x) load[l][x] += off[x + 1] - off[x];
    }
  }
  const double fair = static_cast<double>(eval_batches) * B * T * config->moe.top_k / X;
  for (size_t l = 0; l < layers.size(); ++l) {
    int64_t total = 0;
    std::printf("%s: share per expert", layers[l].c_str());
    for (int x = 0; x < X; ++x) {
      total += load[l][x];
      std::printf(" %.3f", load[l][x] / (fair * X));
    }
    std::printf("\n");
    EXPECT_EQ(total, static_cast<int64_t>(eval_batches) * B * T * config->moe.top_k) << layers[l] << ": tokens dropped";
    for (int x = 0; x < X; ++x) {
      EXPECT_GT(load[l][x], 0.25 * fair) << layers[l] << " expert " << x << " is starved";
      EXPECT_LT(load[l][x], 2.5 * fair) << layers[l] << " expert " << x << " takes too much";
    }
  }
}

}  // namespace
