// Next-token sampling: greedy, top-k, top-p and the repetition penalty draw from the distributions
// they promise (counted over many draws), and the full-settings function keeps the old draws.
#include "trainer/sampling.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <vector>

namespace trainer {
namespace {

// Logits of probabilities 0.5, 0.25, 0.15, 0.1 at temperature 1.
std::vector<float> four_tokens() { return {std::log(0.5f), std::log(0.25f), std::log(0.15f), std::log(0.1f)}; }

std::array<int, 4> counts(const SamplingSettings& s, std::span<const int32_t> recent, int draws) {
  const std::vector<float> logits = four_tokens();
  Rng rng(7);
  std::vector<float> scratch;
  std::array<int, 4> c{};
  for (int i = 0; i < draws; ++i) ++c[sample_next_token(logits.data(), 4, s, recent, rng, &scratch)];
  return c;
}

TEST(Sampling, GreedyPicksTheArgmaxAndTheLowestIndexOnTies) {
  const std::vector<float> logits = {1.0f, 3.0f, 3.0f, -2.0f};
  Rng rng(1);
  std::vector<float> scratch;
  SamplingSettings s;
  s.temperature = 0.0f;
  EXPECT_EQ(sample_next_token(logits.data(), 4, s, {}, rng, &scratch), 1);
}

TEST(Sampling, TopPKeepsTheSmallestNucleusReachingP) {
  SamplingSettings s;
  s.temperature = 1.0f;
  s.top_k = 0;
  s.top_p = 0.7f;  // 0.5 < 0.7 <= 0.75: the two most likely tokens, renormalized to 2/3 and 1/3
  const std::array<int, 4> c = counts(s, {}, 30000);
  EXPECT_EQ(c[2], 0);
  EXPECT_EQ(c[3], 0);
  EXPECT_NEAR(c[0] / 30000.0, 2.0 / 3.0, 0.015);
  s.top_p = 0.1f;  // the most likely token alone
  EXPECT_EQ(counts(s, {}, 2000)[0], 2000);
}

TEST(Sampling, TopKAndAllTokensFollowTheSoftmax) {
  SamplingSettings s;
  s.temperature = 1.0f;
  s.top_k = 0;
  const std::array<int, 4> all = counts(s, {}, 40000);
  EXPECT_NEAR(all[3] / 40000.0, 0.1, 0.01);
  s.top_k = 3;
  const std::array<int, 4> three = counts(s, {}, 40000);
  EXPECT_EQ(three[3], 0);
  EXPECT_NEAR(three[2] / 40000.0, 0.15 / 0.9, 0.012);
}

TEST(Sampling, RepetitionPenaltyLowersRecentTokensOnly) {
  // Logits of both signs: a positive one is divided by the penalty, a negative one multiplied.
  const std::vector<float> logits = {2.0f, 1.9f, -0.5f, -0.6f};
  SamplingSettings s;
  s.temperature = 0.0f;
  s.repetition_penalty = 1.5f;
  Rng rng(3);
  std::vector<float> scratch;
  const std::vector<int32_t> recent = {0, 0, 2};
  EXPECT_EQ(sample_next_token(logits.data(), 4, s, recent, rng, &scratch), 1);  // 2/1.5 < 1.9
  s.repeat_last_n = 1;  // only token 2 is recent now
  EXPECT_EQ(sample_next_token(logits.data(), 4, s, recent, rng, &scratch), 0);
  // Among the negatives: -0.5 * 1.5 = -0.75 falls below -0.6.
  const std::vector<float> negative = {-0.5f, -0.6f};
  s.repeat_last_n = 64;
  const std::vector<int32_t> just0 = {0};
  EXPECT_EQ(sample_next_token(negative.data(), 2, s, just0, rng, &scratch), 1);
}

TEST(Sampling, DefaultSettingsDrawWhatTheTopKFunctionDraws) {
  std::vector<float> logits(50);
  for (int v = 0; v < 50; ++v) logits[v] = std::sin(0.7f * v) * 3.0f;
  Rng a(11), b(11);
  std::vector<float> s1, s2;
  SamplingSettings s;
  s.temperature = 0.9f;
  s.top_k = 10;
  const std::vector<int32_t> recent = {1, 2, 3};
  for (int i = 0; i < 500; ++i)
    ASSERT_EQ(sample_next_token(logits.data(), 50, 0.9f, 10, a, &s1), sample_next_token(logits.data(), 50, s, recent, b, &s2));
}

}  // namespace
}  // namespace trainer
