// make_tokenizer() and the byte tokenizer (ids 0..255 are the bytes themselves). The GPT-2 BPE
// tokenizer lives in gpt2.cpp, the models' own tokenizers in the other files of tokenizers/.
#include "trainer/tokenizers/tokenizer.h"

#include "common/check.h"
#include "trainer/tokenizers/gpt2.h"
#include "trainer/tokenizers/model_tokenizer.h"

namespace trainer {
namespace {

class ByteTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    std::vector<int32_t> ids(text.size());
    for (size_t i = 0; i < text.size(); ++i) ids[i] = static_cast<unsigned char>(text[i]);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) const override {
    std::string out(ids.size(), '\0');
    for (size_t i = 0; i < ids.size(); ++i) {
      CHECK_MSG(ids[i] >= 0 && ids[i] < 256, "byte token id out of range");
      out[i] = static_cast<char>(ids[i]);
    }
    return out;
  }
  int vocab_size() const override { return 256; }
  std::string spec() const override { return "byte"; }
  std::string fingerprint() const override { return "byte"; }
};

}  // namespace

common::Result<std::unique_ptr<Tokenizer>> make_tokenizer(const std::string& spec) {
  if (spec == "byte") return std::unique_ptr<Tokenizer>(new ByteTokenizer());
  if (spec.starts_with("gpt2:") && spec.size() > 5) {
    NS_ASSIGN_OR_RETURN(std::unique_ptr<Gpt2Tokenizer> t, Gpt2Tokenizer::load(spec.substr(5), spec));
    return std::unique_ptr<Tokenizer>(std::move(t));
  }
  if (spec == "gpt2" || spec == "gpt2:")
    return common::Status::InvalidArgument("tokenizer 'gpt2' needs its directory: gpt2:DIR (with encoder.json + vocab.bpe)");
  return tokenizers::make_model_tokenizer(spec);  // hf:, spm:, gguf:, or a path
}

}  // namespace trainer
