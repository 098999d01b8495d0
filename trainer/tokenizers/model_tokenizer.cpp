// Spec resolution for make_model_tokenizer.
#include "trainer/tokenizers/model_tokenizer.h"

#include <filesystem>

#include "trainer/formats/gguf.h"
#include "trainer/tokenizers/chat_template_source.h"
#include "trainer/tokenizers/gguf_vocab.h"
#include "trainer/tokenizers/gguf_vocab_data.h"
#include "trainer/tokenizers/gpt2.h"
#include "trainer/tokenizers/hf_tokenizer.h"
#include "trainer/tokenizers/sentencepiece_tokenizer.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

// The directory of a tokenizer file, or the directory itself.
std::string folder_of(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return path;
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// The tokenizer with the chat template found beside its file.
Result<std::unique_ptr<Tokenizer>> templated(Result<std::unique_ptr<Tokenizer>> t, const std::string& path) {
  if (!t.ok()) return t;
  NS_ASSIGN_OR_RETURN(std::string chat_template, read_chat_template_beside(folder_of(path)));
  return with_chat_template(std::move(t).value(), std::move(chat_template));
}

Result<std::unique_ptr<Tokenizer>> hf(const std::string& path) {
  NS_ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> t, load_hf_tokenizer(path, "hf:" + path));
  return templated(std::unique_ptr<Tokenizer>(std::move(t)), path);
}

Result<std::unique_ptr<Tokenizer>> spm(const std::string& file, const std::string& spec) {
  return templated(load_sentencepiece(file, spec), file);
}

Result<std::unique_ptr<Tokenizer>> gguf(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Status::NotFound(path + ": no such file");
  NS_ASSIGN_OR_RETURN(std::unique_ptr<formats::GgufFile> file, formats::GgufFile::open(path));
  NS_ASSIGN_OR_RETURN(VocabData vocab, read_gguf_vocab(*file));
  NS_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> t, make_gguf_tokenizer(vocab, "gguf:" + path));
  return with_chat_template(std::move(t), gguf_chat_template(*file));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> make_model_tokenizer(const std::string& spec) {
  if (spec.starts_with("hf:") && spec.size() > 3) return hf(spec.substr(3));
  if (spec.starts_with("spm:") && spec.size() > 4) return spm(spec.substr(4), spec);
  if (spec.starts_with("gguf:") && spec.size() > 5) return gguf(spec.substr(5));
  std::error_code ec;
  const fs::path p(spec);
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "tokenizer.json", ec)) return hf(spec);
    if (fs::exists(p / "tokenizer.model", ec)) {
      const std::string file = (p / "tokenizer.model").string();
      return spm(file, "spm:" + file);
    }
    if (fs::exists(p / "encoder.json", ec) || fs::exists(p / "vocab.json", ec)) {
      NS_ASSIGN_OR_RETURN(std::unique_ptr<Gpt2Tokenizer> t, Gpt2Tokenizer::load(spec, "gpt2:" + spec));
      return std::unique_ptr<Tokenizer>(std::move(t));
    }
    return Status::NotFound(spec + ": no tokenizer.json, tokenizer.model or encoder.json in this directory");
  }
  if (fs::is_regular_file(p, ec)) {
    const std::string ext = p.extension().string();
    if (ext == ".json") return hf(spec);
    if (ext == ".model") return spm(spec, "spm:" + spec);
    if (ext == ".gguf") return gguf(spec);
    return Status::InvalidArgument(spec + ": not a tokenizer file (expected tokenizer.json, tokenizer.model or a .gguf file)");
  }
  return Status::InvalidArgument("unknown tokenizer '" + spec +
                                 "' (expected byte, gpt2:DIR, hf:PATH, spm:FILE, gguf:FILE, or a path to a model's tokenizer)");
}

}  // namespace trainer::tokenizers
