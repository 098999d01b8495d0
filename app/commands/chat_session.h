// A conversation with a model, shared by `chat` (interactive) and `sample --chat` (one turn): the
// messages so far are rendered with the model's chat template (trainer/chat/chat_template.h) and
// an assistant header, only the tokens beyond what the model has already seen are fed, and the
// reply is sampled until the model's end-of-turn or end-of-text token, a stop string or the token
// limit. The reply becomes the assistant message of the conversation.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/model_source.h"
#include "app/commands/text_generation.h"
#include "common/status.h"
#include "trainer/chat/chat_template.h"

namespace app {

struct ChatSettings {
  std::string template_name;  // --chat-template; "" = the model's own template
  std::string system;         // a system message first, when not empty
  int context = 0;            // attention context; 0 = the run's sequence length or 4096
  bool recompute = false;
  int max_tokens = 512;       // per reply
  trainer::SamplingSettings sampling;
  std::vector<std::string> stops;
  uint64_t seed = 1;
};

struct ChatReply {
  std::string text;             // the reply, without its end token (and cut at a stop string)
  std::vector<int32_t> ids;     // the sampled ids (the end token included when one ended it)
  bool ended = false;           // ended by the model's end-of-turn / end-of-text token
};

class ChatSession {
 public:
  // InvalidArgument when the model's template is not recognised and no --chat-template names one.
  static common::Result<std::unique_ptr<ChatSession>> open(const ModelSource& src, const ChatSettings& settings);
  // Adds a user message and samples the reply; `on_text` gets the reply's text as it is decided.
  common::Result<ChatReply> reply(const std::string& user, const std::function<void(const std::string&)>& on_text);
  // Forgets the conversation (keeps the system message).
  void reset();
  trainer::chat::Family family() const { return family_; }
  // The prompt ids of the last reply (the rendering fed to the model), for --json output.
  const std::vector<int32_t>& last_prompt() const { return last_prompt_; }

 private:
  ChatSession(const ModelSource& src, const ChatSettings& settings, trainer::chat::Family family)
      : src_(src), settings_(settings), family_(family), rng_(settings.seed) {}
  bool is_end(int32_t id) const;

  const ModelSource& src_;
  ChatSettings settings_;
  trainer::chat::Family family_;
  trainer::Rng rng_;
  std::vector<trainer::chat::Message> messages_;
  std::unique_ptr<TokenStream> stream_;
  std::vector<int32_t> last_prompt_;
};

}  // namespace app
