// The libsentencepiece wrapper.
#include "trainer/tokenizers/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <cstdio>
#include <filesystem>
#include <unordered_map>

#include "common/atomic_file.h"
#include "common/check.h"
#include "trainer/formats/checksum.h"
#include "trainer/tokenizers/added_tokens.h"

namespace trainer::tokenizers {
namespace {

using common::Result;
using common::Status;

class SentencePieceTokenizer final : public Tokenizer {
 public:
  SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, std::string spec, std::string fp)
      : sp_(std::move(sp)), spec_(std::move(spec)), fingerprint_(std::move(fp)) {
    const int n = sp_->GetPieceSize();
    std::vector<AddedToken> controls;
    for (int id = 0; id < n; ++id) {
      by_text_.emplace(sp_->IdToPiece(id), id);
      if ((sp_->IsControl(id) || sp_->IsUnknown(id)) && !sp_->IdToPiece(id).empty())
        controls.push_back({id, sp_->IdToPiece(id), true});
    }
    controls_ = AddedTokenSplitter(std::move(controls));
    auto valid = [n](int id) { return id >= 0 && id < n ? id : -1; };
    ids_.bos = valid(sp_->bos_id());
    ids_.eos = valid(sp_->eos_id());
    ids_.unk = valid(sp_->unk_id());
    ids_.pad = valid(sp_->pad_id());
    for (const char* name : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"})
      if (auto it = by_text_.find(name); ids_.eot < 0 && it != by_text_.end()) ids_.eot = it->second;
  }

  std::vector<int32_t> encode(std::string_view text) const override { return encode_with(text, {}); }

  std::vector<int32_t> encode_with(std::string_view text, const EncodeOptions& options) const override {
    std::vector<int32_t> out;
    if (options.add_bos && ids_.bos >= 0) out.push_back(ids_.bos);
    std::vector<Fragment> fragments;
    if (options.parse_special) controls_.split(text, true, &fragments);
    else if (!text.empty()) fragments.push_back({text, -1});
    std::vector<int> ids;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        out.push_back(f.id);
        continue;
      }
      ids.clear();
      const auto status = sp_->Encode(std::string(f.text), &ids);
      CHECK_MSG(status.ok(), ("sentencepiece encode failed: " + status.ToString()).c_str());
      out.insert(out.end(), ids.begin(), ids.end());
    }
    return out;
  }

  std::string decode(std::span<const int32_t> ids) const override {
    // Runs of ordinary pieces through the library; control pieces as their text.
    std::string out, part;
    std::vector<int> run;
    auto flush = [&] {
      if (run.empty()) return;
      const auto status = sp_->Decode(run, &part);
      CHECK_MSG(status.ok(), ("sentencepiece decode failed: " + status.ToString()).c_str());
      out += part;
      run.clear();
    };
    for (int32_t id : ids) {
      CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
      if (is_special(id)) {
        flush();
        out += sp_->IdToPiece(id);
      } else {
        run.push_back(id);
      }
    }
    flush();
    return out;
  }

  int vocab_size() const override { return sp_->GetPieceSize(); }
  std::string spec() const override { return spec_; }
  std::string fingerprint() const override { return fingerprint_; }
  SpecialIds special_ids() const override { return ids_; }
  bool add_bos() const override { return ids_.bos >= 0; }
  bool is_special(int32_t id) const override {
    CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
    return sp_->IsControl(id) || sp_->IsUnknown(id);
  }
  std::string token_text(int32_t id) const override {
    CHECK_MSG(id >= 0 && id < vocab_size(), "token id out of range");
    return sp_->IdToPiece(id);
  }
  std::optional<int32_t> token_id(std::string_view text) const override {
    auto it = by_text_.find(std::string(text));
    if (it == by_text_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  std::string spec_, fingerprint_;
  std::unordered_map<std::string, int32_t> by_text_;
  AddedTokenSplitter controls_;
  SpecialIds ids_;
};

Result<std::unique_ptr<sentencepiece::SentencePieceProcessor>> open_model(const std::string& path, std::string* bytes) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::NotFound(path + ": no such file");
  NS_ASSIGN_OR_RETURN(*bytes, common::read_file(path));
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->LoadFromSerializedProto(*bytes);
  if (!status.ok()) return Status::Corruption(path + ": not a SentencePiece model (" + status.ToString() + ")");
  return sp;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> load_sentencepiece(const std::string& path, const std::string& spec) {
  std::string bytes;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, open_model(path, &bytes));
  char fp[32];
  std::snprintf(fp, sizeof fp, "spm-v1-%08x", crc32(bytes.data(), bytes.size()));
  return std::unique_ptr<Tokenizer>(new SentencePieceTokenizer(std::move(sp), spec, fp));
}

Result<VocabData> read_sentencepiece_vocab(const std::string& path, SentencePieceProto* proto) {
  std::string bytes;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, open_model(path, &bytes));
  NS_ASSIGN_OR_RETURN(*proto, parse_sentencepiece_proto(bytes, path));
  const int n = sp->GetPieceSize();
  if (static_cast<int>(proto->piece_types.size()) != n)
    return Status::Corruption(path + ": the model lists " + std::to_string(proto->piece_types.size()) +
                              " pieces, the library " + std::to_string(n));
  VocabData v;
  v.model = "llama";
  v.source = path;
  for (int id = 0; id < n; ++id) {
    v.tokens.push_back(sp->IdToPiece(id));
    v.scores.push_back(sp->GetScore(id));
    GgufTokenType t = GgufTokenType::kNormal;
    if (sp->IsUnknown(id)) t = GgufTokenType::kUnknown;
    else if (sp->IsControl(id)) t = GgufTokenType::kControl;
    else if (sp->IsUnused(id)) t = GgufTokenType::kUnused;
    else if (sp->IsByte(id)) t = GgufTokenType::kByte;
    else if (proto->piece_types[id] == static_cast<int32_t>(GgufTokenType::kUserDefined)) t = GgufTokenType::kUserDefined;
    v.token_types.push_back(static_cast<int32_t>(t));
  }
  auto valid = [n](int id) -> std::optional<int32_t> {
    if (id >= 0 && id < n) return id;
    return std::nullopt;
  };
  v.bos_id = valid(sp->bos_id());
  v.eos_id = valid(sp->eos_id());
  v.unk_id = valid(sp->unk_id());
  v.pad_id = valid(sp->pad_id());
  v.add_space_prefix = proto->add_dummy_prefix;
  return v;
}

}  // namespace trainer::tokenizers
