// Where a model's chat template comes from: tokenizer_config.json's "chat_template" (a string, or a
// list of {"name", "template"} where "default" is used, else the first), or chat_template.jinja, beside
// a tokenizer.json / tokenizer.model; GGUF's tokenizer.chat_template. with_chat_template() gives a
// tokenizer whose Tokenizer::chat_template() returns it (the tokenizer readers stay unaware of it).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "trainer/formats/gguf.h"
#include "trainer/tokenizers/tokenizer.h"

namespace trainer::tokenizers {

// The template beside a tokenizer file (`dir`: the directory holding it); "" when there is none.
// Corruption names tokenizer_config.json when it is not JSON or its chat_template has another shape.
common::Result<std::string> read_chat_template_beside(const std::string& dir);

// GGUF's tokenizer.chat_template; "" when absent.
std::string gguf_chat_template(const formats::GgufFile& file);

// `tokenizer` with chat_template() returning `chat_template` (unchanged when it is empty).
std::unique_ptr<Tokenizer> with_chat_template(std::unique_ptr<Tokenizer> tokenizer, std::string chat_template);

}  // namespace trainer::tokenizers
