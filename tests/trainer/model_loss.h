// The model's loss for finite-difference checks: a forward, then the cross-entropy recomputed in
// double from the fp32 logits. Model::forward's own loss is rounded to fp32 and uses a fast exp,
// so its last-ulp noise (~1e-7 of a loss near 2.4) is larger than many gradient entries times the
// step; in double, only the rounding of the logits themselves is left.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "trainer/model.h"

namespace trainer_test {

// inputs, targets: (N) token ids with N = batch * seq_len of the model's shape.
inline double model_loss_double(trainer::Model& m, const int32_t* inputs, const int32_t* targets, int N) {
  m.forward(inputs, targets);
  // The auxiliary (MoE load-balancing) term, weighted as Model::forward weighs it.
  const trainer::ModelConfig& c = m.config();
  const double aux_weight = c.has_layer(trainer::LayerKind::kMoe) ? c.moe.aux_loss_weight : 0.0;
  const double aux = aux_weight * m.last_aux_loss();
  const int V = c.vocab_size;
  const float* logits = m.logits();
  double ce = 0.0;
  for (int n = 0; n < N; ++n) {
    const float* z = logits + static_cast<int64_t>(n) * V;
    const double mx = *std::max_element(z, z + V);
    double sum = 0.0;
    for (int v = 0; v < V; ++v) sum += std::exp(static_cast<double>(z[v]) - mx);
    ce += mx + std::log(sum) - z[targets[n]];
  }
  return ce / N + aux;
}

}  // namespace trainer_test
