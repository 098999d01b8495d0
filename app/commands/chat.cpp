// `nightshift chat MODEL_OR_RUN [--system TEXT] [--chat-template NAME] [--max-tokens N] [sampling]`:
// a conversation with a pretrained model (.gguf, Hugging Face directory) or a fine-tuned run, in
// the terminal. Each line read from stdin is a user message; the reply is rendered with the model's
// chat template, streamed to stdout and stopped at the model's end-of-turn token. "/reset" starts
// the conversation again, "/quit" or end of input ends it. A prompt ("> ") is shown when stdin is
// a terminal.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "app/commands/chat_session.h"
#include "app/commands/command_registry.h"
#include "app/commands/sampling_options.h"
#include "common/log.h"
#include "trainer/trainer.h"

namespace app {
namespace {

struct ChatFlags {
  std::string model;
  ChatSettings chat;
  int threads = 1;
};

int chat_main(const ChatFlags& f) {
  if (f.threads < 1) return report_error(common::Status::InvalidArgument("--threads must be at least 1"));
  if (f.chat.max_tokens < 1) return report_error(common::Status::InvalidArgument("--max-tokens must be at least 1"));
  if (common::Status st = check_sampling(f.chat.sampling); !st.ok()) return report_error(st);
  auto src = open_model_source(f.model);
  if (!src.ok()) return report_error(src.status());
  trainer::set_compute_threads(f.threads);
  auto session = ChatSession::open(*src, f.chat);
  if (!session.ok()) return report_error(session.status());
  common::log_info("chat template: " + std::string(trainer::chat::family_name((*session)->family())) +
                   "; /reset starts again, /quit ends");
  const bool tty = ::isatty(STDIN_FILENO);
  std::string line;
  while (true) {
    if (tty) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      (*session)->reset();
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto reply = (*session)->reply(line, [](const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
    });
    if (!reply.ok()) return report_error(reply.status());
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }
  if (tty) std::fputs("\n", stdout);
  return kExitOk;
}

void register_chat(CLI::App& root, Action& run) {
  auto f = std::make_shared<ChatFlags>();
  CLI::App* cmd = root.add_subcommand("chat", "talk with a pretrained model or a fine-tuned run, using its chat template");
  cmd->add_option("model", f->model, "run directory, or a pretrained model (.gguf file, Hugging Face directory)")->required();
  cmd->add_option("--system", f->chat.system, "a system message that starts the conversation");
  cmd->add_option("--chat-template", f->chat.template_name,
                  "render with this template family (chatml, llama3, mistral-v3, gemma, phi3, granite, ...) instead of "
                  "the model's own");
  cmd->add_option("--max-tokens", f->chat.max_tokens, "longest reply in tokens (default 512)");
  cmd->add_option("--context", f->chat.context, "attention context in tokens (default: the run's sequence length, or 4096)");
  add_sampling_options(cmd, &f->chat.sampling, &f->chat.stops);
  cmd->add_option("--seed", f->chat.seed, "sampling seed (default 1)");
  cmd->add_option("--threads", f->threads, "compute threads (default 1)");
  cmd->add_flag("--recompute", f->chat.recompute, "re-run the forward over the context for every token (slower; for checking)");
  cmd->callback([&run, f] { run = [f] { return chat_main(*f); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_chat);
}  // namespace app
