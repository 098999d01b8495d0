// TokenStream (recurrent or re-running) and StopWatcher.
#include "app/commands/text_generation.h"

#include <algorithm>

#include "common/log.h"
#include "trainer/generator.h"

namespace app {
namespace {

// One token's forward per token, carrying the conv/scan state and KV caches.
class RecurrentStream final : public TokenStream {
 public:
  RecurrentStream(std::unique_ptr<trainer::Model> model, std::unique_ptr<trainer::RecurrentGenerator> gen, int V)
      : model_(std::move(model)), gen_(std::move(gen)), V_(V) {}
  void feed(std::span<const int32_t> ids) override {
    for (int32_t t : ids) logits_ = gen_->step(t);
    ctx_.insert(ctx_.end(), ids.begin(), ids.end());
  }
  int32_t sample(const trainer::SamplingSettings& s, trainer::Rng& rng) override {
    return trainer::sample_next_token(logits_, V_, s, ctx_, rng, &scratch_);
  }

 private:
  std::unique_ptr<trainer::Model> model_;  // owns the weights the generator reads
  std::unique_ptr<trainer::RecurrentGenerator> gen_;
  int V_;
  const float* logits_ = nullptr;
  std::vector<float> scratch_;
};

// Every token re-runs the model over the last T tokens of the context.
class RecomputeStream final : public TokenStream {
 public:
  RecomputeStream(std::unique_ptr<trainer::Model> model, int T, int V)
      : model_(std::move(model)), T_(T), V_(V), window_(T, 0) {}
  void feed(std::span<const int32_t> ids) override { ctx_.insert(ctx_.end(), ids.begin(), ids.end()); }
  int32_t sample(const trainer::SamplingSettings& s, trainer::Rng& rng) override {
    const int n = std::min<int>(static_cast<int>(ctx_.size()), T_);
    std::copy(ctx_.end() - n, ctx_.end(), window_.begin());
    model_->forward(window_.data(), nullptr);
    const float* logits = model_->logits() + static_cast<int64_t>(n - 1) * V_;
    return trainer::sample_next_token(logits, V_, s, ctx_, rng, &scratch_);
  }

 private:
  std::unique_ptr<trainer::Model> model_;
  int T_, V_;
  std::vector<int32_t> window_;
  std::vector<float> scratch_;
};

}  // namespace

common::Result<std::unique_ptr<TokenStream>> TokenStream::open(const ModelSource& src, int context, bool recompute) {
  const int V = src.config.vocab_size;
  if (recompute || !src.full_weights()) {
    NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, src.inference_model(1, context));
    common::log_info("sampling by re-running the last " + std::to_string(context) + " tokens per token");
    return std::unique_ptr<TokenStream>(new RecomputeStream(std::move(model), context, V));
  }
  // The weights live in a forward-only model of one position; the generator reads them by name.
  NS_ASSIGN_OR_RETURN(std::unique_ptr<trainer::Model> model, src.inference_model(1, 1));
  const trainer::TensorStore& store = model->tensors();
  auto lookup = [&store](const std::string& name) { return static_cast<const float*>(store.find(name)); };
  auto gen = trainer::RecurrentGenerator::create(src.config, lookup, context);
  if (!gen.ok()) return gen.status().with_context(src.is_run() ? src.run->info.dir : src.path);
  common::log_info("sampling with the recurrent state (" + std::to_string((*gen)->state_bytes()) +
                   " bytes per sequence)");
  return std::unique_ptr<TokenStream>(new RecurrentStream(std::move(model), std::move(*gen), V));
}

std::string StopWatcher::add(int32_t id) {
  ids_.push_back(id);
  if (stopped_) return "";
  const std::string all = tok_.decode(ids_);
  // The earliest stop string in the whole continuation ends it.
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    if (s.empty()) continue;
    cut = std::min(cut, all.find(s));
  }
  size_t printable = all.size();
  if (cut != std::string::npos) {
    stopped_ = true;
    printable = cut;
  } else {
    // Hold back a tail that is the beginning of some stop string.
    for (const std::string& s : stops_) {
      for (size_t k = std::min(s.size() - 1, all.size()); k > 0; --k) {
        if (all.compare(all.size() - k, k, s, 0, k) == 0) {
          printable = std::min(printable, all.size() - k);
          break;
        }
      }
    }
  }
  // Should decoding rewrite what was shown (never for the tokenizers here), each token's own text
  // is shown from then on.
  if (!in_step_ || all.compare(0, shown_.size(), shown_) != 0) {
    in_step_ = false;
    std::string own = tok_.decode(std::span<const int32_t>(&id, 1));
    shown_ += own;
    return own;
  }
  if (printable < shown_.size()) return "";
  std::string fresh = all.substr(shown_.size(), printable - shown_.size());
  shown_ += fresh;
  return fresh;
}

std::string StopWatcher::flush() {
  if (stopped_ || !in_step_) return "";
  const std::string all = tok_.decode(ids_);
  if (all.compare(0, shown_.size(), shown_) != 0) return "";
  std::string rest = all.substr(shown_.size());
  shown_ = all;
  return rest;
}

}  // namespace app
