// Training records: what one JSONL line (or one text file) holds, detected line by line from its
// fields. Formats:
//   {"text": "..."}                                            plain text
//   {"prompt": "...", "completion": "..."}                     prompt/completion
//   {"messages": [{"role": "...", "content": "..."}, ...]}     chat (OpenAI, TRL, mlx-lm)
//   {"conversations": [{"from": "human", "value": "..."}, ...]} ShareGPT (human/gpt/system → user/assistant/system)
//   {"instruction": "...", "input": "...", "output": "..."}    Alpaca (input optional) → prompt/completion
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "trainer/chat/chat_template.h"

namespace trainer {

struct Record {
  enum class Kind { kText, kPromptCompletion, kChat };
  Kind kind = Kind::kText;
  std::string text;        // kText
  std::string prompt;      // kPromptCompletion
  std::string completion;  // kPromptCompletion
  std::vector<chat::Message> messages;  // kChat
};

// Parses one JSONL line. InvalidArgument with a message without the "FILE:LINE: " prefix (the
// caller adds it): not JSON, or an object that fits none of the formats (saying which fields it has
// and which are expected), or a field of the wrong type.
common::Result<Record> parse_record(std::string_view line);

// The name of a record kind for messages and logs: "text", "prompt/completion", "chat".
std::string_view record_kind_name(Record::Kind kind);

}  // namespace trainer
