// Text generation shared by `sample` and `chat`: a TokenStream that feeds tokens to a model and
// samples the next one (carrying the recurrent state for fp32 weights, or re-running the forward
// over the last seq_len tokens for adapter runs and --recompute), and a StopWatcher that streams
// decoded text while holding back anything that may still turn into a stop string.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "app/commands/model_source.h"
#include "common/status.h"
#include "trainer/rng.h"
#include "trainer/sampling.h"

namespace app {

class TokenStream {
 public:
  virtual ~TokenStream() = default;
  // Recurrent when the source has plain fp32 weights and !recompute; `context` is the attention
  // context (KV cache length, or the window re-run per token).
  static common::Result<std::unique_ptr<TokenStream>> open(const ModelSource& src, int context, bool recompute);
  // Appends tokens to the context (a prompt, a user turn, or a sampled token).
  virtual void feed(std::span<const int32_t> ids) = 0;
  // Samples the next token from the logits after everything fed so far (does not feed it).
  virtual int32_t sample(const trainer::SamplingSettings& settings, trainer::Rng& rng) = 0;
  // Everything fed so far.
  const std::vector<int32_t>& context() const { return ctx_; }

 protected:
  std::vector<int32_t> ctx_;
};

// Incremental decoding of generated ids with stop strings: text() is what may be shown so far. A
// SentencePiece token's leading space survives (the whole continuation is decoded each time).
class StopWatcher {
 public:
  StopWatcher(const trainer::Tokenizer& tok, std::vector<std::string> stops) : tok_(tok), stops_(std::move(stops)) {}
  // Adds a generated token; returns the newly printable text. stopped() turns true when the
  // continuation contains a stop string; the text up to it is then printable and the rest is not.
  std::string add(int32_t id);
  // Whatever was held back (a stop string's possible beginning) when generation ends another way.
  std::string flush();
  bool stopped() const { return stopped_; }
  const std::vector<int32_t>& ids() const { return ids_; }
  // The final text: the continuation up to (not including) a stop string.
  const std::string& text() const { return shown_; }

 private:
  const trainer::Tokenizer& tok_;
  std::vector<std::string> stops_;
  std::vector<int32_t> ids_;
  std::string shown_;   // printed so far
  bool stopped_ = false;
  bool in_step_ = true;  // the decoding of the whole continuation extends what was shown
};

}  // namespace app
