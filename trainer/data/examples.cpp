// Tokenizing records into examples with their trained flags (see examples.h).
#include "trainer/data/examples.h"

namespace trainer {
namespace {

using common::Result;
using common::Status;

void append(Example* e, const std::vector<int32_t>& ids, bool trained) {
  e->ids.insert(e->ids.end(), ids.begin(), ids.end());
  e->trained.insert(e->trained.end(), ids.size(), trained ? 1 : 0);
}

void start(Example* e, const Tokenizer& tok) {
  if (tok.add_bos() && tok.special_ids().bos >= 0) append(e, {tok.special_ids().bos}, false);
}

// EOS when the tokenizer has one; else a newline unless the text ends with one.
void finish(Example* e, const Tokenizer& tok, std::string_view text, bool trained) {
  if (tok.special_ids().eos >= 0) {
    append(e, {tok.special_ids().eos}, trained);
  } else if (text.empty() || text.back() != '\n') {
    append(e, tok.encode("\n"), trained);
  }
}

Result<Example> chat_example(const std::vector<chat::Message>& messages, const Tokenizer& tok,
                             const ExampleOptions& options, chat::TrainOn train_on) {
  if (!options.family) return Status::InvalidArgument(options.template_problem);
  chat::RenderOptions r;
  r.train_on = train_on;
  NS_ASSIGN_OR_RETURN(std::vector<chat::Segment> segments, chat::render(*options.family, messages, r));
  chat::TokenizedChat t = chat::tokenize_chat(tok, segments, true);
  return Example{std::move(t.ids), std::move(t.trained)};
}

}  // namespace

Result<ExampleOptions> example_options(const Tokenizer& tokenizer, const std::string& chat_template_name,
                                       const std::string& train_on_name) {
  ExampleOptions o;
  if (!train_on_name.empty() && train_on_name != "auto") {
    o.train_on = chat::train_on_from_name(train_on_name);
    if (!o.train_on)
      return Status::InvalidArgument("--train-on " + train_on_name + ": expected assistant, all, completion or last");
  }
  const std::string tmpl = tokenizer.chat_template();
  Result<chat::Family> family = chat::resolve_family(tmpl, chat_template_name, tokenizer.spec());
  if (family.ok()) {
    o.family = *family;
  } else {
    if (!chat_template_name.empty()) return family.status();  // an unknown --chat-template name
    o.template_problem = "chat data needs a chat template: " + family.status().message();
    o.template_unresolved = !tmpl.empty();
  }
  return o;
}

std::string example_settings(const ExampleOptions& options) {
  return "family=" + std::string(options.family ? chat::family_name(*options.family) : "none") +
         ";train_on=" + std::string(options.train_on ? chat::train_on_name(*options.train_on) : "auto");
}

Example tokenize_text(std::string_view text, const Tokenizer& tok) {
  Example e;
  if (text.empty()) return e;
  start(&e, tok);
  e.trained.assign(e.trained.size(), 1);  // text is all trained, its BOS too (it follows the last EOS)
  append(&e, tok.encode(text), true);
  finish(&e, tok, text, true);
  return e;
}

Result<Example> tokenize_record(const Record& record, const Tokenizer& tok, const ExampleOptions& options) {
  switch (record.kind) {
    case Record::Kind::kText:
      return tokenize_text(record.text, tok);
    case Record::Kind::kChat:
      return chat_example(record.messages, tok, options, options.train_on.value_or(chat::TrainOn::kAssistant));
    case Record::Kind::kPromptCompletion: {
      const chat::TrainOn train_on = options.train_on.value_or(chat::TrainOn::kCompletion);
      if (options.family || options.template_unresolved) {
        const std::vector<chat::Message> turns = {{"user", record.prompt}, {"assistant", record.completion}};
        return chat_example(turns, tok, options, train_on);
      }
      const bool all = train_on == chat::TrainOn::kAll;
      Example e;
      start(&e, tok);
      append(&e, tok.encode(record.prompt), all);
      append(&e, tok.encode(record.completion), true);
      finish(&e, tok, record.completion, true);
      return e;
    }
  }
  return Status::InvalidArgument("unknown record kind");
}

}  // namespace trainer
