// sample_next_token: argmax, or a top-k softmax draw.
#include "trainer/sampling.h"

#include <algorithm>
#include <cmath>

namespace trainer {

int32_t sample_next_token(const float* logits, int V, float temperature, int top_k, Rng& rng,
                          std::vector<float>* scratch) {
  if (temperature <= 0.0f) return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  // The k-th largest logit is the cut-off; everything below it gets probability 0.
  float cutoff = -INFINITY;
  if (top_k > 0 && top_k < V) {
    scratch->assign(logits, logits + V);
    std::nth_element(scratch->begin(), scratch->begin() + (top_k - 1), scratch->end(), std::greater<float>());
    cutoff = (*scratch)[top_k - 1];
  }
  const float mx = *std::max_element(logits, logits + V);
  scratch->resize(V);
  double sum = 0.0;
  for (int v = 0; v < V; ++v) {
    const float p = logits[v] >= cutoff ? std::exp((logits[v] - mx) / temperature) : 0.0f;
    (*scratch)[v] = p;
    sum += p;
  }
  double r = rng.uniform() * sum;
  for (int v = 0; v < V; ++v) {
    r -= (*scratch)[v];
    if (r < 0) return v;
  }
  for (int v = V - 1; v >= 0; --v) {
    if ((*scratch)[v] > 0) return v;
  }
  return 0;
}

}  // namespace trainer
