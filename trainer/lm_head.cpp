// lm_head_cross_entropy (lm_head.h): gather up to C trained rows, project them, take the loss (and,
// in training, the gradient) of that chunk, scatter the rows' gradient back; repeat.
#include "trainer/lm_head.h"

#include <cstring>

#include "common/check.h"
#include "trainer/kernels/kernels.h"

namespace trainer {

double lm_head_cross_entropy(const LmHeadChunk& chunk, const float* hidden, const float* head,
                             const int32_t* targets, int N, int E, int V, float scale, float* dhidden,
                             float* dhead) {
  CHECK(chunk.capacity > 0);
  CHECK_MSG(dhidden == nullptr || chunk.drows != nullptr, "the head's gradient needs a training chunk");
  const size_t row_bytes = sizeof(float) * static_cast<size_t>(E);
  if (dhidden) zero_floats(dhidden, int64_t{N} * E);
  double sum = 0.0;
  int n = 0;
  for (;;) {
    int c = 0;
    for (; n < N && c < chunk.capacity; ++n) {
      if (targets[n] < 0) continue;
      CHECK(targets[n] < V);
      chunk.index[c] = n;
      chunk.targets[c] = targets[n];
      std::memcpy(chunk.rows + int64_t{c} * E, hidden + int64_t{n} * E, row_bytes);
      ++c;
    }
    if (c == 0) break;
    matmul_forward(chunk.logits, chunk.rows, head, c, E, V, false);
    sum += crossentropy_forward(chunk.lse, chunk.logits, chunk.targets, c, V);
    if (dhidden) {
      crossentropy_backward_inplace(chunk.logits, chunk.lse, chunk.targets, c, V, scale);
      zero_floats(chunk.drows, int64_t{c} * E);
      matmul_backward(chunk.drows, dhead, chunk.logits, chunk.rows, head, c, E, V);
      for (int i = 0; i < c; ++i) {
        std::memcpy(dhidden + int64_t{chunk.index[i]} * E, chunk.drows + int64_t{i} * E, row_bytes);
      }
    }
  }
  return sum;
}

}  // namespace trainer
