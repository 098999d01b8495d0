// score_windows: windows of seq_len + 1 tokens, B per forward, NLL from the logits in double.
#include "trainer/window_eval.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace trainer {

int64_t count_windows(int64_t n_tokens, int seq_len) {
  if (seq_len < 1 || n_tokens < seq_len + 1) return 0;
  return (n_tokens - 1) / seq_len;  // window w needs tokens [w*T, w*T + T]
}

common::Result<WindowScore> score_windows(Model& model, std::span<const int32_t> ids, int seq_len) {
  const int64_t B = model.shape().batch, T = model.shape().seq_len;
  const int64_t V = model.config().vocab_size;
  if (seq_len < 1 || seq_len != T) {
    return common::Status::InvalidArgument("window length " + std::to_string(seq_len) + " differs from the model's " +
                                           std::to_string(T));
  }
  const int64_t windows = count_windows(static_cast<int64_t>(ids.size()), seq_len);
  if (windows == 0) {
    return common::Status::InvalidArgument("the text has " + std::to_string(ids.size()) + " tokens, fewer than one window of " +
                                           std::to_string(seq_len + 1));
  }
  for (int32_t id : ids.first(static_cast<size_t>(windows * T + 1))) {
    if (id < 0 || id >= V) {
      return common::Status::InvalidArgument("token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                                             std::to_string(V));
    }
  }
  std::vector<int32_t> inputs(static_cast<size_t>(B * T), 0);
  double sum = 0;
  for (int64_t first = 0; first < windows; first += B) {
    const int64_t rows = std::min(B, windows - first);
    for (int64_t b = 0; b < rows; ++b) {
      const int32_t* src = ids.data() + (first + b) * T;
      std::copy(src, src + T, inputs.begin() + b * T);
    }
    model.forward(inputs.data(), nullptr);
    const float* logits = model.logits();
    for (int64_t b = 0; b < rows; ++b) {  // rows past `rows` hold stale windows and are not scored
      const int32_t* targets = ids.data() + (first + b) * T + 1;
      for (int64_t t = 0; t < T; ++t) {
        const float* row = logits + (b * T + t) * V;
        const double mx = *std::max_element(row, row + V);
        double z = 0;
        for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(row[v]) - mx);
        sum += mx + std::log(z) - static_cast<double>(row[targets[t]]);
      }
    }
  }
  WindowScore s;
  s.windows = windows;
  s.tokens = windows * T;
  s.loss = sum / static_cast<double>(s.tokens);
  return s;
}

}  // namespace trainer
