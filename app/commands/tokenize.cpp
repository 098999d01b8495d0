// `nightshift tokenize --tokenizer SPEC FILE` (SPEC: byte, gpt2:DIR, or a model's tokenizer: a
// directory with tokenizer.json or tokenizer.model, such a file, hf:PATH, spm:FILE): prints the
// token ids of FILE, space-separated, on one line; with --decode, reads whitespace-separated ids
// from FILE and prints their text exactly (no newline added). FILE may be '-' for stdin. Bad input
// (missing file, bad tokenizer directory, a word that is not an id, an id outside the vocabulary)
// exits 2 with one line naming the problem.
#include <charconv>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"
#include "common/atomic_file.h"
#include "trainer/tokenizers/tokenizer.h"

namespace app {
namespace {

struct TokenizeArgs {
  std::string tokenizer = "byte";
  std::string file;
  bool decode = false;
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

int tokenize_main(const TokenizeArgs& a) {
  common::Result<std::unique_ptr<trainer::Tokenizer>> tok = trainer::make_tokenizer(a.tokenizer);
  if (!tok.ok()) return report_error(tok.status());
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
  cmd->add_option("FILE", args->file, "input file ('-' for stdin)")->required();
  cmd->callback([&run, args] { run = [args] { return tokenize_main(*args); }; });
}

}  // namespace
NS_REGISTER_COMMAND(register_tokenize);
}  // namespace app
