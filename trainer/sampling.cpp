// sample_next_token: argmax, or a top-k / top-p softmax draw, after an optional repetition penalty.
#include "trainer/sampling.h"

#include <algorithm>
#include <cmath>

namespace trainer {
namespace {

// Draws an index with probability proportional to weights[v] (all >= 0, sum > 0).
int32_t draw(const std::vector<float>& weights, double sum, Rng& rng) {
  const int V = static_cast<int>(weights.size());
  double r = rng.uniform() * sum;
  for (int v = 0; v < V; ++v) {
    r -= weights[v];
    if (r < 0) return v;
  }
  for (int v = V - 1; v >= 0; --v) {
    if (weights[v] > 0) return v;
  }
  return 0;
}

// Zeroes every weight outside the nucleus: the most likely tokens, in order, until their mass
// reaches top_p of the total (the token that crosses the line is kept). Returns the kept mass.
double keep_nucleus(std::vector<float>* weights, double sum, float top_p) {
  std::vector<int32_t> order;
  for (int v = 0; v < static_cast<int>(weights->size()); ++v)
    if ((*weights)[v] > 0) order.push_back(v);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return (*weights)[a] != (*weights)[b] ? (*weights)[a] > (*weights)[b] : a < b;
  });
  const double target = static_cast<double>(top_p) * sum;
  double kept = 0.0;
  size_t n = 0;
  while (n < order.size() && (n == 0 || kept < target)) kept += (*weights)[order[n++]];
  for (size_t i = n; i < order.size(); ++i) (*weights)[order[i]] = 0.0f;
  return kept;
}

}  // namespace

int32_t sample_next_token(const float* logits, int V, float temperature, int top_k, Rng& rng,
                          std::vector<float>* scratch) {
  SamplingSettings s;
  s.temperature = temperature;
  s.top_k = top_k;
  return sample_next_token(logits, V, s, {}, rng, scratch);
}

int32_t sample_next_token(const float* logits_in, int V, const SamplingSettings& settings,
                          std::span<const int32_t> recent, Rng& rng, std::vector<float>* scratch) {
  const float* logits = logits_in;
  std::vector<float> penalized;
  if (settings.repetition_penalty != 1.0f && settings.repeat_last_n > 0 && !recent.empty()) {
    penalized.assign(logits_in, logits_in + V);
    const size_t n = std::min(recent.size(), static_cast<size_t>(settings.repeat_last_n));
    std::vector<bool> seen(V, false);
    for (int32_t id : recent.last(n)) {
      if (id < 0 || id >= V || seen[id]) continue;
      seen[id] = true;
      float& l = penalized[id];
      l = l > 0 ? l / settings.repetition_penalty : l * settings.repetition_penalty;
    }
    logits = penalized.data();
  }
  if (settings.temperature <= 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  // The k-th largest logit is the cut-off; everything below it gets probability 0.
  float cutoff = -INFINITY;
  if (settings.top_k > 0 && settings.top_k < V) {
    scratch->assign(logits, logits + V);
    std::nth_element(scratch->begin(), scratch->begin() + (settings.top_k - 1), scratch->end(), std::greater<float>());
    cutoff = (*scratch)[settings.top_k - 1];
  }
  const float mx = *std::max_element(logits, logits + V);
  scratch->resize(V);
  double sum = 0.0;
  for (int v = 0; v < V; ++v) {
    const float p = logits[v] >= cutoff ? std::exp((logits[v] - mx) / settings.temperature) : 0.0f;
    (*scratch)[v] = p;
    sum += p;
  }
  if (settings.top_p < 1.0f) sum = keep_nucleus(scratch, sum, std::max(settings.top_p, 0.0f));
  return draw(*scratch, sum, rng);
}

}  // namespace trainer
