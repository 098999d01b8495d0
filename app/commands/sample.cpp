// `nightshift sample MODEL_OR_RUN --prompt TEXT [--tokens N --temperature T --top-k K --top-p P
// --repetition-penalty R --stop STR --seed S --json] [--chat [--system TEXT] [--chat-template NAME]]`:
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
#include "app/commands/chat_session.h"
#include "app/commands/sampling_options.h"
#include "app/commands/text_generation.h"
#include "trainer/trainer.h"

namespace app {
namespace {

struct SampleFlags {
  std::string run_dir;
  std::string prompt;
  int tokens = 200;
  trainer::SamplingSettings sampling;
  std::vector<std::string> stops;
  uint64_t seed = 1;
  bool recompute = false;
  bool json = false;
  int threads = 1;
  bool chat = false;            // --prompt is a user message, answered in the model's chat template
  std::string system;
  std::string chat_template;
};

// The context a run was trained for; for a pretrained model the prompt plus the tokens asked for.
int context_length(const ModelSource& src, size_t prompt_tokens, int tokens) {
  return src.is_run() ? src.run->run.shape.seq_len : static_cast<int>(prompt_tokens) + std::max(tokens, 1);
}

// One chat turn: the reply to --prompt as a user message (only the reply is printed).
int sample_chat(const SampleFlags& f, const ModelSource& src) {
  ChatSettings c;
  c.template_name = f.chat_template;
  c.system = f.system;
  c.recompute = f.recompute;
  c.max_tokens = f.tokens;
  c.sampling = f.sampling;
  c.stops = f.stops;
  c.seed = f.seed;
  auto session = ChatSession::open(src, c);
  if (!session.ok()) return report_error(session.status());
  auto reply = (*session)->reply(f.prompt, [&f](const std::string& text) {
    if (f.json) return;
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  });
  if (!reply.ok()) return report_error(reply.status());
  if (!f.json) {
    std::printf("\n");
    return kExitOk;
  }
  const nlohmann::json j{{"prompt", f.prompt},
                         {"template", trainer::chat::family_name((*session)->family())},
                         {"prompt_ids", (*session)->last_prompt()},
                         {"ids", reply->ids},
                         {"text", reply->text},
                         {"ended", reply->ended}};
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return kExitOk;
}

int sample_main(const SampleFlags& f) {
  if (f.tokens < 0) return report_error(common::Status::InvalidArgument("--tokens must not be negative"));
  if (f.threads < 1) return report_error(common::Status::InvalidArgument("--threads must be at least 1"));
  if (common::Status st = check_sampling(f.sampling); !st.ok()) return report_error(st);
  auto src = open_model_source(f.run_dir);
  if (!src.ok()) return report_error(src.status());
  if (f.chat) {
    if (f.prompt.empty()) return report_error(common::Status::InvalidArgument("--prompt must not be empty"));
    trainer::set_compute_threads(f.threads);
    return sample_chat(f, *src);
  }
  if (!f.system.empty() || !f.chat_template.empty())
    return report_error(common::Status::InvalidArgument("--system and --chat-template need --chat"));
  trainer::EncodeOptions opt;
  opt.add_bos = true;  // as the model's tokenizer does for a text (Llama: yes; byte, GPT-2: no)
  const std::vector<int32_t> prompt = src->tokenizer->encode_with(f.prompt, opt);
  if (f.prompt.empty() || prompt.empty()) {
    return report_error(common::Status::InvalidArgument("--prompt must not be empty"));
  }
  // One token's forward is far too little work to share: waking a thread pool for every small
  // kernel costs more than it saves (and, on a busy machine, many times more).
  trainer::set_compute_threads(f.threads);
  auto stream = TokenStream::open(*src, context_length(*src, prompt.size(), f.tokens), f.recompute);
  if (!stream.ok()) return report_error(stream.status());
  if (!f.json) {
    std::fwrite(f.prompt.data(), 1, f.prompt.size(), stdout);
    std::fflush(stdout);
  }
  StopWatcher watch(*src->tokenizer, f.stops);
  trainer::Rng rng(f.seed);
  (*stream)->feed(prompt);
  for (int i = 0; i < f.tokens && !watch.stopped(); ++i) {
    const int32_t next = (*stream)->sample(f.sampling, rng);
    const std::string text = watch.add(next);
    if (!f.json) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    }
    if (i + 1 < f.tokens) (*stream)->feed(std::span<const int32_t>(&next, 1));
  }
  const std::string rest = watch.flush();
  if (!f.json) {
    std::printf("%s\n", rest.c_str());
    return kExitOk;
  }
  const nlohmann::json j{{"prompt", f.prompt}, {"prompt_ids", prompt}, {"ids", watch.ids()},
                         {"text", watch.text()}, {"stopped", watch.stopped()}};
  // Single tokens of a byte-fallback vocabulary may be partial UTF-8: replaced, not an error.
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return kExitOk;
}

void register_sample(CLI::App& root, Action& run) {
  auto f = std::make_shared<SampleFlags>();
  CLI::App* cmd = root.add_subcommand("sample", "generate text from a run's latest checkpoint or a pretrained model");
  cmd->add_option("run_dir", f->run_dir, "run directory, or a pretrained model (.gguf file, Hugging Face directory)")
      ->required();
  cmd->add_option("--prompt", f->prompt, "text to continue")->required();
  cmd->add_option("--tokens", f->tokens, "tokens to generate (default 200)");
  add_sampling_options(cmd, &f->sampling, &f->stops);
  cmd->add_option("--seed", f->seed, "sampling seed (default 1)");
  cmd->add_option("--threads", f->threads, "compute threads (default 1)");
  cmd->add_flag("--recompute", f->recompute,
                "re-run the forward over the last seq_len tokens for every token instead of carrying the "
                "recurrent state (slower; for checking)");
  cmd->add_flag("--chat", f->chat,
                "answer --prompt as a user message in the model's chat template, until its end-of-turn token; "
                "prints the reply only");
  cmd->add_option("--system", f->system, "with --chat: a system message first");
  cmd->add_option("--chat-template", f->chat_template, "with --chat: render with this template family instead of the model's own");
  cmd->add_flag("--json", f->json, "print one JSON object at the end: prompt, prompt_ids, ids (generated), text (their decoding)");
  cmd->callback([&run, f] { run = [f] { return sample_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_sample);
}  // namespace app
