// Chat templates: a conversation (a list of {role, content} messages) rendered the way a model's
// chat template renders it, as segments that say which text is the template's own (tokenized with
// special tokens parsed) and which is a message's content (never parsed for special tokens), and
// which tokens are trained. The families are the ones people fine-tune, recognised from the Jinja
// template text by the strings llama.cpp's llama-chat.cpp looks for, and rendered exactly as it
// renders them (no Jinja engine: a model's template is matched to a family, not executed).
// A BOS token is not part of the rendering: tokenize_chat() puts it first when the tokenizer adds one.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer::chat {

enum class Family {
  kChatml,          // <|im_start|>role\n...<|im_end|>\n (Qwen, SmolLM2)
  kLlama2,          // [INST] ... [/INST] without a system block
  kLlama2Sys,       // with <<SYS>>\n...\n<</SYS>>\n\n
  kLlama2SysBos,    // and <s>[INST] before each later turn
  kLlama2SysStrip,  // and contents stripped of surrounding whitespace
  kMistralV1,       // " [INST] " (Mistral 7B v0.1 official)
  kMistralV3,       // "[INST] " with control tokens, assistant content trimmed
  kMistralV3Tekken, // "[INST]" without spaces
  kMistralV7,       // [SYSTEM_PROMPT] ... [/SYSTEM_PROMPT][INST] ...[/INST]
  kMistralV7Tekken,
  kPhi3,            // <|role|>\n...<|end|>\n
  kGemma,           // <start_of_turn>user\n...<end_of_turn>\n, "model" for the assistant
  kLlama3,          // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>
  kGranite,         // <|start_of_role|>role<|end_of_role|>...<|end_of_text|>\n (Granite 3.x)
};

// Which tokens of a conversation carry loss (--train-on).
enum class TrainOn {
  kAssistant,   // every assistant turn's content and its end token (the default for chat data)
  kAll,         // every token
  kCompletion,  // prompt/completion data: the completion; for chat data the same as kAssistant
  kLast,        // only the last assistant turn's content and end token
};
std::optional<TrainOn> train_on_from_name(std::string_view name);  // "assistant", "all", ...
std::string_view train_on_name(TrainOn t);

struct Message {
  std::string role;     // "system", "user" or "assistant"
  std::string content;
};

struct Segment {
  std::string text;
  bool template_text = false;  // the template's own text: special tokens in it are parsed
  bool trained = false;        // its tokens are trained (their targets carry loss)
};

struct RenderOptions {
  // Ends with the header of an assistant turn, for generation (inference); nothing is trained then.
  bool add_generation_prompt = false;
  TrainOn train_on = TrainOn::kAssistant;
};

// The names --chat-template accepts ("chatml", "llama3", "mistral-v3", ...), as llama.cpp names them.
std::optional<Family> family_from_name(std::string_view name);
std::string_view family_name(Family family);
std::vector<std::string_view> family_names();

// The family of a Jinja template text (or of a family name given as the text); nullopt if unknown.
std::optional<Family> detect_family(std::string_view template_text);

// The family to render with: `name` (--chat-template) when not empty, else the model's template.
// InvalidArgument: an unknown name (listing the known ones); no template and no name; a template
// that is not recognised (asking for --chat-template NAME). `source` names the model in messages.
common::Result<Family> resolve_family(const std::string& template_text, const std::string& name,
                                      const std::string& source);

// Renders a conversation. InvalidArgument for no messages or ("message N: ...") a role other than
// system, user or assistant.
common::Result<std::vector<Segment>> render(Family family, std::span<const Message> messages,
                                            const RenderOptions& options);

// The rendered text as one string (what llama.cpp's llama_chat_apply_template returns).
std::string render_text(std::span<const Segment> segments);

// Token ids of a conversation with one trained flag per id (1: the id is a target that carries loss).
struct TokenizedChat {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trained;
};
// Tokenizes segments one by one: template text with parse_special, content without. With add_bos,
// the tokenizer's BOS comes first (untrained) when the tokenizer adds one (Tokenizer::add_bos()).
// Every segment boundary is a token boundary. Where the template's markers are special tokens
// followed by a newline (ChatML, Llama 3) that is what tokenizing the whole rendering gives too
// (checked against llama.cpp); for the other families it is expected but unchecked, and for Llama 2
// and Mistral v1, whose [INST] is plain text, the ids at a marker/content boundary can differ.
TokenizedChat tokenize_chat(const Tokenizer& tokenizer, std::span<const Segment> segments, bool add_bos);

}  // namespace trainer::chat
