// `nightshift sample RUN_DIR --prompt TEXT [--tokens N --temperature T --top-k K --seed S]`: continues
// the prompt with the run's latest checkpoint, streaming text to stdout.
// Full-mode runs generate step by step with the recurrent state (trainer/generator.h): the conv
// and scan state of every ssm layer and a KV cache per attention layer (a ring of `window` positions,
// or of the run's sequence length for full attention), so each token costs one token's forward and
// ssm layers keep the whole prompt in their state. LoRA/QLoRA runs (adapters on a frozen, possibly
// quantized base) and `--recompute` re-run the forward over the last seq_len tokens for every token.
#include <cstdio>
#include <vector>

#include "app/commands/cli_validators.h"
#include "app/commands/command_registry.h"
#include "app/train/run_loader.h"
#include "common/log.h"
#include "trainer/sampling.h"
#include "trainer/generator.h"
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
  int threads = 1;
};

void emit(const trainer::Tokenizer& tok, int32_t token) {
  const std::string text = tok.decode(std::span<const int32_t>(&token, 1));
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

// Every token re-runs the model over the last T tokens of the context.
int sample_recompute(const SampleFlags& f, const LoadedRun& run, std::vector<int32_t> ctx) {
  const int T = run.run.shape.seq_len;
  const int V = run.model.vocab_size;
  auto model = load_inference_model(run, 1, T);
  if (!model.ok()) return report_error(model.status());
  common::log_info("sampling by re-running the last " + std::to_string(T) + " tokens per token");
  std::fwrite(f.prompt.data(), 1, f.prompt.size(), stdout);
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
    emit(*run.tokenizer, next);
  }
  return kExitOk;
}

// One token's forward per token, carrying the recurrent state.
int sample_recurrent(const SampleFlags& f, const LoadedRun& run, const std::vector<int32_t>& prompt) {
  const int T = run.run.shape.seq_len;
  const int V = run.model.vocab_size;
  // The weights live in a forward-only model of one position; the generator reads them by name.
  auto model = load_inference_model(run, 1, 1);
  if (!model.ok()) return report_error(model.status());
  const trainer::TensorStore& store = (*model)->tensors();
  auto lookup = [&store](const std::string& name) { return static_cast<const float*>(store.find(name)); };
  auto gen = trainer::RecurrentGenerator::create(run.model, lookup, T);
  if (!gen.ok()) return report_error(gen.status().with_context(run.info.dir));
  common::log_info("sampling with the recurrent state (" + std::to_string((*gen)->state_bytes()) +
                   " bytes per sequence)");
  std::fwrite(f.prompt.data(), 1, f.prompt.size(), stdout);
  std::fflush(stdout);
  const float* logits = nullptr;
  for (int32_t t : prompt) logits = (*gen)->step(t);
  trainer::Rng rng(f.seed);
  std::vector<float> scratch;
  for (int i = 0; i < f.tokens; ++i) {
    const int32_t next = trainer::sample_next_token(logits, V, f.temperature, f.top_k, rng, &scratch);
    emit(*run.tokenizer, next);
    if (i + 1 < f.tokens) logits = (*gen)->step(next);
  }
  return kExitOk;
}

int sample_main(const SampleFlags& f) {
  if (f.tokens < 0) return report_error(common::Status::InvalidArgument("--tokens must not be negative"));
  if (f.threads < 1) return report_error(common::Status::InvalidArgument("--threads must be at least 1"));
  auto run = load_run(f.run_dir);
  if (!run.ok()) return report_error(run.status());
  std::vector<int32_t> ctx = run->tokenizer->encode(f.prompt);
  if (ctx.empty()) return report_error(common::Status::InvalidArgument("--prompt must not be empty"));
  // One token's forward is far too little work to share: waking a thread pool for every small
  // kernel costs more than it saves (and, on a busy machine, many times more).
  trainer::set_compute_threads(f.threads);
  const bool full = run->info.shape.mode == trainer::TrainMode::kFull;
  const int rc = (f.recompute || !full) ? sample_recompute(f, *run, std::move(ctx)) : sample_recurrent(f, *run, ctx);
  if (rc == kExitOk) std::printf("\n");
  return rc;
}

void register_sample(CLI::App& root, Action& run) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = root.add_subcommand("sample", "generate text from a run's latest checkpoint");
  cmd->add_option("run_dir", f->run_dir, "run directory")->required();
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
  cmd->callback([&run, f] { run = [f] { return sample_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_sample);
}  // namespace app
