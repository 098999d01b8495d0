// score_windows (trainer/window_eval.h): the windows a sequence is cut into, the same loss whatever
// the number of windows per forward (a partial last batch included), the model's own cross-entropy
// of each window, and the errors for a sequence shorter than a window or an id outside the
// vocabulary. Its agreement with llama.cpp is checked by tests/integration/pretrained_cli_test.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "run_shape.h"
#include "trainer/model.h"
#include "trainer/window_eval.h"

namespace {

constexpr int kT = 8;

std::unique_ptr<trainer::Model> make_model(const trainer::ModelConfig& config, int batch) {
  trainer::RunShape shape = trainer_test::run_shape(batch, kT);
  shape.training = false;
  auto m = trainer::Model::create(config, shape);
  EXPECT_TRUE(m.ok()) << m.status().message();
  (*m)->init_weights(7);
  return std::move(*m);
}

trainer::ModelConfig config() {
  auto c = trainer::model_preset("gpt-tiny");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return *c;
}

std::vector<int32_t> sequence(int n, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = (i * 37 + i / 5) % vocab;
  return ids;
}

TEST(WindowEval, CountsWholeWindowsOfSeqPlusOneTokens) {
  EXPECT_EQ(trainer::count_windows(0, kT), 0);
  EXPECT_EQ(trainer::count_windows(kT, kT), 0);
  EXPECT_EQ(trainer::count_windows(kT + 1, kT), 1);
  EXPECT_EQ(trainer::count_windows(2 * kT, kT), 1);
  EXPECT_EQ(trainer::count_windows(2 * kT + 1, kT), 2);
  EXPECT_EQ(trainer::count_windows(100, 0), 0);
}

TEST(WindowEval, EqualsTheModelsCrossEntropyPerWindowForAnyBatch) {
  const trainer::ModelConfig c = config();
  const std::vector<int32_t> ids = sequence(7 * kT + 5, c.vocab_size);  // 7 windows, 4 tokens left over
  auto one = make_model(c, 1);
  auto three = make_model(c, 3);  // 3 + 3 + 1: the last forward is partly stale
  auto a = trainer::score_windows(*one, ids, kT);
  auto b = trainer::score_windows(*three, ids, kT);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(a->windows, 7);
  EXPECT_EQ(a->tokens, 7 * kT);
  EXPECT_EQ(b->windows, 7);
  EXPECT_NEAR(a->loss, b->loss, 1e-6 * a->loss);
  // The model's own (fp32) cross-entropy of each window, one forward per window.
  double sum = 0;
  for (int w = 0; w < 7; ++w) {
    sum += one->forward(ids.data() + w * kT, ids.data() + w * kT + 1);
  }
  EXPECT_GT(a->loss, 0.1);
  EXPECT_NEAR(a->loss, sum / 7, 1e-5 * a->loss);
}

TEST(WindowEval, RejectsShortSequencesAndIdsOutsideTheVocabulary) {
  const trainer::ModelConfig c = config();
  auto m = make_model(c, 1);
  std::vector<int32_t> ids = sequence(kT, c.vocab_size);
  EXPECT_EQ(trainer::score_windows(*m, ids, kT).status().code(), common::StatusCode::kInvalidArgument);
  ids = sequence(2 * kT + 1, c.vocab_size);
  ids[kT + 3] = c.vocab_size;
  EXPECT_EQ(trainer::score_windows(*m, ids, kT).status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_EQ(trainer::score_windows(*m, ids, kT + 1).status().code(), common::StatusCode::kInvalidArgument);
}

}  // namespace
