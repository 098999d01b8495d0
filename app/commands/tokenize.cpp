// `nightshift tokenize --tokenizer SPEC FILE` (SPEC: byte, gpt2:DIR, or a model's tokenizer: a
// directory with tokenizer.json or tokenizer.model, such a file, hf:PATH, spm:FILE): prints the
// token ids of FILE, space-separated, on one line; with --decode, reads whitespace-separated ids
// from FILE and prints their text exactly (no newline added). FILE may be '-' for stdin. Bad input
// (missing file, bad tokenizer directory, a word that is not an id, an id outside the vocabulary)
// exits 2 with one line naming the problem.
// `nightshift tokenize --tokenizer MODEL --chat FILE.jsonl [--mask] [--json] [--chat-template NAME]
// [--train-on WHAT]` renders each record of FILE as training does (chat with the model's template,
// prompt/completion, text) and prints its ids; --mask shows which are trained (1) and the trained
// text in [[ ]]; --json prints one object per record instead.
#include <charconv>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "common/atomic_file.h"
#include "trainer/data/examples.h"
#include "trainer/data/records.h"
#include "trainer/tokenizers/tokenizer.h"

#include <nlohmann/json.hpp>

namespace app {
namespace {

struct TokenizeArgs {
  std::string tokenizer = "byte";
  std::string file;
  bool decode = false;
  std::string chat;           // --chat FILE.jsonl
  bool mask = false;
  bool json = false;
  std::string chat_template;  // --chat-template NAME
  std::string train_on;       // --train-on
};

common::Result<std::string> read_input(const std::string& file) {
  if (file != "-") return common::read_file(file);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) out.append(buf, n);
  if (std::ferror(stdin)) return common::Status::IOError("stdin: read error");
  return out;
}

// Whitespace-separated decimal ids, each checked against the vocabulary.
common::Result<std::vector<int32_t>> parse_ids(const std::string& file, const std::string& text, int vocab_size) {
  std::vector<int32_t> ids;
  const char* p = text.data();
  const char* end = p + text.size();
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (true) {
    while (p < end && is_space(*p)) ++p;
    if (p == end) break;
    const char* word_end = p;
    while (word_end < end && !is_space(*word_end)) ++word_end;
    const std::string word(p, word_end);
    const std::string where = file + ": token " + std::to_string(ids.size() + 1) + " ";
    int64_t id = -1;
    auto [ptr, ec] = std::from_chars(p, word_end, id);
    if (ec != std::errc() || ptr != word_end || word.size() > 12)
      return common::Status::InvalidArgument(where + "'" + word.substr(0, 20) + "' is not a token id");
    if (id < 0 || id >= vocab_size)
      return common::Status::InvalidArgument(where + "id " + word + " is outside the vocabulary (0.." +
                                             std::to_string(vocab_size - 1) + ")");
    ids.push_back(static_cast<int32_t>(id));
    p = word_end;
  }
  return ids;
}

std::string join_ids(const std::vector<int32_t>& ids) {
  std::string out;
  char num[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(' ');
    auto [ptr, ec] = std::to_chars(num, num + sizeof num, ids[i]);
    out.append(num, ptr);
  }
  return out;
}

// The decoded text with the trained runs in [[ ]].
std::string marked_text(const trainer::Tokenizer& tok, const trainer::Example& e) {
  std::string out;
  size_t i = 0;
  while (i < e.ids.size()) {
    size_t j = i;
    while (j < e.ids.size() && e.trained[j] == e.trained[i]) ++j;
    const std::string text = tok.decode(std::span<const int32_t>(e.ids.data() + i, j - i));
    out += e.trained[i] ? "[[" + text + "]]" : text;
    i = j;
  }
  return out;
}

int chat_main(const TokenizeArgs& a, const trainer::Tokenizer& tok) {
  common::Result<std::string> text = read_input(a.chat);
  if (!text.ok()) return report_error(text.status());
  auto options = trainer::example_options(tok, a.chat_template, a.train_on);
  if (!options.ok()) return report_error(options.status());
  const std::string name = a.chat == "-" ? "stdin" : a.chat;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text->size();) {
    size_t eol = text->find('\n', pos);
    if (eol == std::string::npos) eol = text->size();
    const std::string_view line(text->data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = name + ":" + std::to_string(line_no) + ": ";
    auto record = trainer::parse_record(line);
    if (!record.ok()) return report_error(common::Status::InvalidArgument(where + record.status().message()));
    auto example = trainer::tokenize_record(*record, tok, *options);
    if (!example.ok()) return report_error(common::Status::InvalidArgument(where + example.status().message()));
    size_t trained = 0;
    for (uint8_t t : example->trained) trained += t;
    std::string out;
    if (a.json) {
      nlohmann::json j = {{"line", line_no},
                          {"kind", std::string(trainer::record_kind_name(record->kind))},
                          {"ids", example->ids},
                          {"trained_tokens", trained}};
      if (a.mask) j["mask"] = example->trained;
      out = j.dump() + "\n";
    } else {
      out = "# " + name + ":" + std::to_string(line_no) + ": " + std::string(trainer::record_kind_name(record->kind)) +
            ", " + std::to_string(example->ids.size()) + " tokens, " + std::to_string(trained) + " trained\n";
      out += join_ids(example->ids) + "\n";
      if (a.mask) {
        std::vector<int32_t> flags(example->trained.begin(), example->trained.end());
        out += join_ids(flags) + "\n" + marked_text(tok, *example) + "\n";
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  return kExitOk;
}

int tokenize_main(const TokenizeArgs& a) {
  common::Result<std::unique_ptr<trainer::Tokenizer>> tok = trainer::make_tokenizer(a.tokenizer);
  if (!tok.ok()) return report_error(tok.status());
  if (!a.chat.empty()) return chat_main(a, **tok);
  if (a.file.empty()) return report_error(common::Status::InvalidArgument("tokenize: give FILE, or --chat FILE.jsonl"));
  common::Result<std::string> text = read_input(a.file);
  if (!text.ok()) return report_error(text.status());
  if (a.decode) {
    common::Result<std::vector<int32_t>> ids = parse_ids(a.file == "-" ? "stdin" : a.file, *text, (*tok)->vocab_size());
    if (!ids.ok()) return report_error(ids.status());
    const std::string out = (*tok)->decode(*ids);
    std::fwrite(out.data(), 1, out.size(), stdout);
    return kExitOk;
  }
  const std::vector<int32_t> ids = (*tok)->encode(*text);
  std::string out;
  out.reserve(ids.size() * 6 + 1);
  char num[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out.push_back(' ');
    auto [ptr, ec] = std::to_chars(num, num + sizeof num, ids[i]);
    out.append(num, ptr);
  }
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

void register_tokenize(CLI::App& root, Action& run) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = root.add_subcommand("tokenize", "print the token ids of a file, or with --decode the text of ids");
  cmd->add_option("--tokenizer,-t", args->tokenizer, "byte, gpt2:DIR (encoder.json + vocab.bpe), or a model's tokenizer: a directory with tokenizer.json or tokenizer.model, such a file, hf:PATH, spm:FILE")
      ->capture_default_str();
  cmd->add_flag("--decode,-d", args->decode, "read space-separated token ids from FILE and print their text");
  cmd->add_option("FILE", args->file, "input file ('-' for stdin)");
  cmd->add_option("--chat", args->chat,
                  "JSONL records (chat, prompt/completion, text) rendered as training renders them; their ids");
  cmd->add_flag("--mask", args->mask, "with --chat: which ids are trained (1) and the trained text in [[ ]]");
  cmd->add_flag("--json", args->json, "with --chat: one JSON object per record (line, kind, ids, mask)");
  cmd->add_option("--chat-template", args->chat_template, "with --chat: the template family (default: the model's)");
  cmd->add_option("--train-on", args->train_on, "with --chat: assistant | all | completion | last (default by record kind)");
  cmd->callback([&run, args] { run = [args] { return tokenize_main(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_tokenize);
}  // namespace app
