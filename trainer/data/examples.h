// Records (records.h) into token ids with a per-token trained flag: one training document each.
//   text               [BOS] text, then EOS (a newline when the tokenizer has no EOS and the text
//                      does not end with one); every token trained, BOS too
//   chat               rendered with the chat template family (trainer/chat/chat_template.h), [BOS]
//                      first when the tokenizer adds one; trained per --train-on (assistant by default)
//   prompt/completion  with a template: a user turn and an assistant turn, as chat; without one
//                      (byte, GPT-2 tokenizers): [BOS] prompt completion EOS, the completion and EOS
//                      trained (--train-on all: everything)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "trainer/chat/chat_template.h"
#include "trainer/data/records.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer {

struct ExampleOptions {
  // The family chat records are rendered with; nullopt: none (then `template_problem` says why, for
  // the error a chat record gets, and prompt/completion records are plain text). When the tokenizer
  // has a template that is not recognised, prompt/completion records get that error too:
  // `template_unresolved` is then set.
  std::optional<chat::Family> family;
  std::string template_problem;
  bool template_unresolved = false;
  // --train-on; nullopt: the default of each record kind (chat: assistant, prompt/completion:
  // completion, text: all).
  std::optional<chat::TrainOn> train_on;
};

// The options for a tokenizer and the user's --chat-template / --train-on choices. InvalidArgument
// for an unknown template name or --train-on value.
common::Result<ExampleOptions> example_options(const Tokenizer& tokenizer, const std::string& chat_template_name,
                                               const std::string& train_on_name);

// What these options change in the tokens, for cache keys ("family=chatml;train_on=auto").
std::string example_settings(const ExampleOptions& options);

struct Example {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trained;  // one per id
};

// InvalidArgument (without a file:line prefix) for a chat record without a usable template or a
// conversation the template cannot render.
common::Result<Example> tokenize_record(const Record& record, const Tokenizer& tokenizer, const ExampleOptions& options);

// A plain text document (a text file, or a {"text"} record).
Example tokenize_text(std::string_view text, const Tokenizer& tokenizer);

}  // namespace trainer
