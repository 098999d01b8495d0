// Learning on real text: gpt-tiny with the byte tokenizer on tinyshakespeare (last 10% held out) for a
// short run must beat the corpus's unigram entropy by a clear margin, i.e. it learned to use context.
// Skipped with a message when the corpus is absent. The long run (2000 steps, val loss well under 2.0)
// is a benchmark, not a test: see the README.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "trainer/data/batch_source.h"
#include "trainer/data/dataset.h"
#include "trainer/tokenizers/tokenizer.h"
#include "trainer/run_shape.h"
#include "trainer/trainer.h"

namespace {

TEST(Learning, TinyShakespeareBeatsUnigramEntropy) {
  const std::string path = std::string(NS_TEST_DATA_DIR) + "/tinyshakespeare.txt";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is absent; skipping the real-text learning test";
  auto tok = trainer::make_tokenizer("byte");
  ASSERT_TRUE(tok.ok());
  trainer::DatasetOptions opt;
  opt.data_path = path;
  opt.cache_dir = testing::TempDir() + "/ns_learning_cache";
  auto data = trainer::TokenDataset::open(opt, **tok);
  ASSERT_TRUE(data.ok()) << data.status().to_string();

  // Unigram entropy of the training split (nats): what a context-free model could reach at best.
  std::map<int32_t, double> counts;
  for (int32_t t : (*data)->train_tokens()) counts[t] += 1;
  const double n = static_cast<double>((*data)->train_tokens().size());
  double unigram = 0.0;
  for (const auto& [t, c] : counts) unigram -= c / n * std::log(c / n);

  auto config = trainer::model_preset("gpt-tiny");
  ASSERT_TRUE(config.ok());
  const int B = 12, T = 64;
  trainer::SamplerBatchSource train(**data, trainer::Split::kTrain, B, T, 1);
  trainer::SamplerBatchSource val(**data, trainer::Split::kVal, B, T, 1);
  trainer::TrainOptions o;
  o.steps = 250;
  o.threads = 1;  // short steps: a second thread mostly waits (and spins) on a machine shared with other tests
  o.warmup = 25;
  o.lr = 3e-3f;
  o.min_lr = 3e-4f;
  auto t = trainer::Trainer::create(*config, trainer_test::run_shape(B, T), o, &train, &val);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  while (!(*t)->done()) ASSERT_TRUE((*t)->step().ok());
  auto e = (*t)->evaluate(20);
  ASSERT_TRUE(e.ok());
  std::printf("unigram entropy %.3f nats, val loss after %lld steps %.3f\n", unigram,
              static_cast<long long>(o.steps), e->val_loss);
  EXPECT_LT(e->val_loss, unigram - 0.4);
}

}  // namespace
