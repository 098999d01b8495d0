// Scoring a token sequence in fixed windows: the sequence is cut into windows of seq_len + 1 tokens
// starting at token 0, seq_len, 2*seq_len, ... (a window short of seq_len + 1 tokens is dropped), and
// the mean next-token negative log-likelihood over every target of every window is taken — the
// deterministic, whole-file counterpart of `eval`'s sampled validation batches, comparable with
// llama.cpp's per-sequence nll. Used by `nightshift eval --seq`.
#pragma once

#include <cstdint>
#include <span>

#include "common/status.h"
#include "trainer/model.h"

namespace trainer {

struct WindowScore {
  double loss = 0;      // mean next-token NLL (nats) over every target
  int64_t tokens = 0;   // targets scored: windows * seq_len
  int64_t windows = 0;
};

// Number of whole windows of seq_len + 1 tokens in n tokens with stride seq_len.
int64_t count_windows(int64_t n_tokens, int seq_len);

// Scores `ids` with a forward-only model of shape (B, seq_len): B windows per forward, the NLL
// taken from the logits in double precision. InvalidArgument when no window fits or an id is
// outside the model's vocabulary.
common::Result<WindowScore> score_windows(Model& model, std::span<const int32_t> ids, int seq_len);

}  // namespace trainer
