// `nightshift sample RUN_DIR --prompt TEXT [--tokens N --temperature T --top-k K --seed S]`: continues
// the prompt with the run's latest checkpoint, streaming text to stdout. The context is the last
// seq_len tokens (the run's sequence length).
#include <cstdio>
#include <vector>

#include "app/command_registry.h"
#include "app/run_loader.h"
#include "trainer/sampling.h"

namespace app {
namespace {

struct SampleFlags {
  std::string run_dir;
  std::string prompt;
  int tokens = 200;
  float temperature = 0.8f;
  int top_k = 40;
  uint64_t seed = 1;
};

int sample_main(const SampleFlags& f) {
  if (f.tokens < 0) return report_error(common::Status::InvalidArgument("--tokens must not be negative"));
  auto run = load_run(f.run_dir);
  if (!run.ok()) return report_error(run.status());
  std::vector<int32_t> ctx = run->tokenizer->encode(f.prompt);
  if (ctx.empty()) return report_error(common::Status::InvalidArgument("--prompt must not be empty"));
  const int T = run->run.shape.seq_len;
  const int V = run->model.vocab_size;
  auto model = load_inference_model(*run, 1, T);
  if (!model.ok()) return report_error(model.status());
  std::fwrite(f.prompt.data(), 1, f.prompt.size(), stdout);
  std::fflush(stdout);
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
    const std::string text = run->tokenizer->decode(std::span<const int32_t>(&next, 1));
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }
  std::printf("\n");
  return kExitOk;
}

void register_sample(CLI::App& root, Action& run) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = root.add_subcommand("sample", "generate text from a run's latest checkpoint");
  cmd->add_option("run_dir", f->run_dir, "run directory")->required();
  cmd->add_option("--prompt", f->prompt, "text to continue")->required();
  cmd->add_option("--tokens", f->tokens, "tokens to generate (default 200)");
  cmd->add_option("--temperature", f->temperature, "softmax temperature; 0 = greedy (default 0.8)");
  cmd->add_option("--top-k", f->top_k, "sample among the K most likely tokens; 0 = all (default 40)");
  cmd->add_option("--seed", f->seed, "sampling seed (default 1)");
  cmd->callback([&run, f] { run = [f] { return sample_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_sample);
}  // namespace app
