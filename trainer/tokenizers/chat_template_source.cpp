// Reading a model's chat template from its tokenizer files; a forwarding tokenizer that carries it.
#include "trainer/tokenizers/chat_template_source.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"

namespace trainer::tokenizers {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using json = nlohmann::json;

// Forwards every call to the wrapped tokenizer and adds the template.
class TemplatedTokenizer final : public Tokenizer {
 public:
  TemplatedTokenizer(std::unique_ptr<Tokenizer> inner, std::string chat_template)
      : inner_(std::move(inner)), template_(std::move(chat_template)) {}
  std::vector<int32_t> encode(std::string_view text) const override { return inner_->encode(text); }
  std::vector<int32_t> encode_with(std::string_view text, const EncodeOptions& options) const override {
    return inner_->encode_with(text, options);
  }
  std::string decode(std::span<const int32_t> ids) const override { return inner_->decode(ids); }
  int vocab_size() const override { return inner_->vocab_size(); }
  std::string spec() const override { return inner_->spec(); }
  std::string fingerprint() const override { return inner_->fingerprint(); }
  SpecialIds special_ids() const override { return inner_->special_ids(); }
  bool add_bos() const override { return inner_->add_bos(); }
  bool is_special(int32_t id) const override { return inner_->is_special(id); }
  std::string token_text(int32_t id) const override { return inner_->token_text(id); }
  std::optional<int32_t> token_id(std::string_view text) const override { return inner_->token_id(text); }
  std::string chat_template() const override { return template_; }

 private:
  std::unique_ptr<Tokenizer> inner_;
  std::string template_;
};

}  // namespace

Result<std::string> read_chat_template_beside(const std::string& dir) {
  std::error_code ec;
  const fs::path config_path = fs::path(dir) / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    NS_ASSIGN_OR_RETURN(std::string text, common::read_file(config_path.string()));
    json config;
    try {
      config = json::parse(text);
    } catch (const json::exception& e) {
      return Status::Corruption(config_path.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (config.is_object() && config.contains("chat_template")) {
      const json& t = config["chat_template"];
      if (t.is_string()) return t.get<std::string>();
      if (t.is_array()) {
        std::string first;
        for (const json& item : t) {
          if (!item.is_object() || !item.contains("template") || !item["template"].is_string())
            return Status::Corruption(config_path.string() + ": chat_template list items need a string \"template\"");
          const std::string name = item.value("name", "");
          if (name == "default") return item["template"].get<std::string>();
          if (first.empty()) first = item["template"].get<std::string>();
        }
        return first;
      }
      if (!t.is_null())
        return Status::Corruption(config_path.string() + ": chat_template must be a string or a list of named templates");
    }
  }
  const fs::path jinja = fs::path(dir) / "chat_template.jinja";
  if (fs::exists(jinja, ec)) return common::read_file(jinja.string());
  return std::string();
}

std::string gguf_chat_template(const formats::GgufFile& file) {
  const formats::GgufValue* v = file.find("tokenizer.chat_template");
  if (v == nullptr || v->type != formats::GgufType::kString) return "";
  return v->str;
}

std::unique_ptr<Tokenizer> with_chat_template(std::unique_ptr<Tokenizer> tokenizer, std::string chat_template) {
  if (chat_template.empty()) return tokenizer;
  return std::make_unique<TemplatedTokenizer>(std::move(tokenizer), std::move(chat_template));
}

}  // namespace trainer::tokenizers
