// `nightshift sample MODEL_OR_RUN --prompt TEXT [--tokens N --temperature T --top-k K --seed S --json]`:
// continues the prompt with a run's latest checkpoint or with a pretrained model (a .gguf file or a
// Hugging Face directory, trainer/arch/imported_model.h), streaming text to stdout — or, with
// --json, printing {"prompt_ids", "ids", "text"} at the end. The prompt is tokenized with the
// model's tokenizer, BOS first when that tokenizer adds one; temperature 0 is greedy decoding.
// Full-mode runs and pretrained models generate step by step with the recurrent state
// (trainer/generator.h): the conv and scan state of every ssm layer and a KV cache per attention
// layer (a ring of `window` positions, or of the run's sequence length — for a pretrained model the
// prompt plus the tokens asked for — for full attention), so each token costs one token's forward
// and ssm layers keep the whole prompt in their state. LoRA/QLoRA runs (adapters on a frozen,
// possibly quantized base) and `--recompute` re-run the forward over the last seq_len tokens for
// every token.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "app/commands/cli_validators.h"
#include "app/commands/command_registry.h"
#include "app/commands/model_source.h"
#include "common/log.h"
#include "trainer/generator.h"
#include "trainer/sampling.h"
#include "trainer/trainer.h"

namespace app {
namespace {

struct SampleFlags {
  std::string run_dir;
  std::string prompt;
  int tokens = 200;
  float temperature = 0.8f;
  int top_k = 40;
  uint64_t seed = 1;
  bool recompute = false;
  bool json = false;
  int threads = 1;
};

// Where the tokens go: streamed as text, or kept for the JSON printed at the end.
class Output {
 public:
  Output(const SampleFlags& f, const trainer::Tokenizer& tok) : f_(f), tok_(tok) {}
  void begin() {
    if (f_.json) return;
    std::fwrite(f_.prompt.data(), 1, f_.prompt.size(), stdout);
    std::fflush(stdout);
  }
  void token(int32_t id) {
    ids_.push_back(id);
    if (f_.json) return;
    // What the continuation so far decodes to, less what was printed: a SentencePiece token's
    // leading space survives (decoding it alone drops it). Should an earlier text change (never for
    // the tokenizers here), each token's own text is printed from then on.
    std::string text = tok_.decode(ids_);
    if (in_step_ && text.compare(0, printed_.size(), printed_) == 0) {
      text.erase(0, printed_.size());
    } else {
      in_step_ = false;
      text = tok_.decode(std::span<const int32_t>(&id, 1));
    }
    printed_ += text;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  void end(const std::vector<int32_t>& prompt_ids) {
    if (!f_.json) {
      std::printf("\n");
      return;
    }
    const nlohmann::json j{{"prompt", f_.prompt}, {"prompt_ids", prompt_ids}, {"ids", ids_}, {"text", tok_.decode(ids_)}};
    // Single tokens of a byte-fallback vocabulary may be partial UTF-8: replaced, not an error.
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }

 private:
  const SampleFlags& f_;
  const trainer::Tokenizer& tok_;
  std::vector<int32_t> ids_;
  std::string printed_;
  bool in_step_ = true;
};

// The context a run was trained for; for a pretrained model the prompt plus the tokens asked for.
int context_length(const ModelSource& src, size_t prompt_tokens, int tokens) {
  return src.is_run() ? src.run->run.shape.seq_len : static_cast<int>(prompt_tokens) + std::max(tokens, 1);
}

// Every token re-runs the model over the last T tokens of the context.
int sample_recompute(const SampleFlags& f, const ModelSource& src, std::vector<int32_t> ctx, Output& out) {
  const int T = context_length(src, ctx.size(), f.tokens);
  const int V = src.config.vocab_size;
  auto model = src.inference_model(1, T);
  if (!model.ok()) return report_error(model.status());
  common::log_info("sampling by re-running the last " + std::to_string(T) + " tokens per token");
  out.begin();
  trainer::Rng rng(f.seed);
  std::vector<int32_t> window(T, 0);
  std::vector<float> scratch;
  for (int i = 0; i < f.tokens; ++i) {
    const int n = std::min<int>(static_cast<int>(ctx.size()), T);
    std::copy(ctx.end() - n, ctx.end(), window.begin());
    (*model)->forward(window.data(), nullptr);
    const float* logits = (*model)->logits() + static_cast<int64_t>(n - 1) * V;
    const int32_t next = trainer::sample_next_token(logits, V, f.temperature, f.top_k, rng, &scratch);
    ctx.push_back(next);
    out.token(next);
  }
  return kExitOk;
}

// One token's forward per token, carrying the recurrent state.
int sample_recurrent(const SampleFlags& f, const ModelSource& src, const std::vector<int32_t>& prompt, Output& out) {
  const int T = context_length(src, prompt.size(), f.tokens);
  const int V = src.config.vocab_size;
  // The weights live in a forward-only model of one position; the generator reads them by name.
  auto model = src.inference_model(1, 1);
  if (!model.ok()) return report_error(model.status());
  const trainer::TensorStore& store = (*model)->tensors();
  auto lookup = [&store](const std::string& name) { return static_cast<const float*>(store.find(name)); };
  auto gen = trainer::RecurrentGenerator::create(src.config, lookup, T);
  if (!gen.ok()) return report_error(gen.status().with_context(src.is_run() ? src.run->info.dir : src.path));
  common::log_info("sampling with the recurrent state (" + std::to_string((*gen)->state_bytes()) +
                   " bytes per sequence)");
  out.begin();
  const float* logits = nullptr;
  for (int32_t t : prompt) logits = (*gen)->step(t);
  trainer::Rng rng(f.seed);
  std::vector<float> scratch;
  for (int i = 0; i < f.tokens; ++i) {
    const int32_t next = trainer::sample_next_token(logits, V, f.temperature, f.top_k, rng, &scratch);
    out.token(next);
    if (i + 1 < f.tokens) logits = (*gen)->step(next);
  }
  return kExitOk;
}

int sample_main(const SampleFlags& f) {
  if (f.tokens < 0) return report_error(common::Status::InvalidArgument("--tokens must not be negative"));
  if (f.threads < 1) return report_error(common::Status::InvalidArgument("--threads must be at least 1"));
  auto src = open_model_source(f.run_dir);
  if (!src.ok()) return report_error(src.status());
  trainer::EncodeOptions opt;
  opt.add_bos = true;  // as the model's tokenizer does for a text (Llama: yes; byte, GPT-2: no)
  const std::vector<int32_t> prompt = src->tokenizer->encode_with(f.prompt, opt);
  if (f.prompt.empty() || prompt.empty()) {
    return report_error(common::Status::InvalidArgument("--prompt must not be empty"));
  }
  // One token's forward is far too little work to share: waking a thread pool for every small
  // kernel costs more than it saves (and, on a busy machine, many times more).
  trainer::set_compute_threads(f.threads);
  Output out(f, *src->tokenizer);
  const int rc = (f.recompute || !src->full_weights()) ? sample_recompute(f, *src, prompt, out)
                                                        : sample_recurrent(f, *src, prompt, out);
  if (rc == kExitOk) out.end(prompt);
  return rc;
}

void register_sample(CLI::App& root, Action& run) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = root.add_subcommand("sample", "generate text from a run's latest checkpoint or a pretrained model");
  cmd->add_option("run_dir", f->run_dir, "run directory, or a pretrained model (.gguf file, Hugging Face directory)")
      ->required();
  cmd->add_option("--prompt", f->prompt, "text to continue")->required();
  cmd->add_option("--tokens", f->tokens, "tokens to generate (default 200)");
  cmd->add_option("--temperature", f->temperature, "softmax temperature; 0 = greedy (default 0.8)")
      ->check(finite_number);
  cmd->add_option("--top-k", f->top_k, "sample among the K most likely tokens; 0 = all (default 40)");
  cmd->add_option("--seed", f->seed, "sampling seed (default 1)");
  cmd->add_option("--threads", f->threads, "compute threads (default 1)");
  cmd->add_flag("--recompute", f->recompute,
                "re-run the forward over the last seq_len tokens for every token instead of carrying the "
                "recurrent state (slower; for checking)");
  cmd->add_flag("--json", f->json, "print one JSON object at the end: prompt, prompt_ids, ids (generated), text (their decoding)");
  cmd->callback([&run, f] { run = [f] { return sample_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_sample);
}  // namespace app
