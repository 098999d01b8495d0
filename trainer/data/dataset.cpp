// TokenDataset::open (reuse a valid token cache or tokenize the corpus into a new one, then map it)
// and BatchSampler (counter-based deterministic windows). File-system details: dataset_cache.cpp.
#include "trainer/data/dataset.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/check.h"
#include "common/log.h"
#include "trainer/data/dataset_cache.h"
#include "trainer/data/examples.h"
#include "trainer/data/records.h"
#include "trainer/trainer.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

// Cache flag bits.
constexpr uint64_t kFlagExamples = 1;  // some record is an example (chat, prompt/completion)

class MappedDataset final : public TokenDataset {
 public:
  // `val_cache` null: the last `val_fraction` of `cache` is the validation split.
  MappedDataset(std::unique_ptr<MappedTokenCache> cache, std::unique_ptr<MappedTokenCache> val_cache, std::string path,
                double val_fraction, bool built)
      : cache_(std::move(cache)), val_cache_(std::move(val_cache)), path_(std::move(path)), built_(built) {
    examples_ = (cache_->flags() & kFlagExamples) != 0 || (val_cache_ && (val_cache_->flags() & kFlagExamples) != 0);
    const std::span<const int32_t> all = cache_->tokens();
    const std::span<const uint64_t> starts = cache_->doc_starts();
    if (val_cache_) {
      train_ = all;
      train_mask_ = cache_->mask();
      train_starts_.assign(starts.begin(), starts.end());
      val_ = val_cache_->tokens();
      val_mask_ = val_cache_->mask();
      val_starts_.assign(val_cache_->doc_starts().begin(), val_cache_->doc_starts().end());
      return;
    }
    const size_t n_val = static_cast<size_t>(std::floor(static_cast<double>(all.size()) * val_fraction));
    size_t boundary = all.size() - n_val;
    if (examples_ && n_val > 0) {
      // Whole examples: the first document start at or after the boundary, else the last one.
      auto it = std::lower_bound(starts.begin(), starts.end(), static_cast<uint64_t>(boundary));
      if (it != starts.end()) boundary = static_cast<size_t>(*it);
      else if (!starts.empty() && starts.back() > 0) boundary = static_cast<size_t>(starts.back());
    }
    train_ = all.first(boundary);
    val_ = all.subspan(boundary);
    train_mask_ = cache_->mask().first(boundary);
    val_mask_ = cache_->mask().subspan(boundary);
    for (uint64_t st : starts) (st < boundary ? train_starts_ : val_starts_).push_back(st < boundary ? st : st - boundary);
  }
  std::span<const int32_t> train_tokens() const override { return train_; }
  std::span<const int32_t> val_tokens() const override { return val_; }
  std::span<const uint8_t> train_mask() const override { return train_mask_; }
  std::span<const uint8_t> val_mask() const override { return val_mask_; }
  std::span<const uint64_t> train_doc_starts() const override { return train_starts_; }
  std::span<const uint64_t> val_doc_starts() const override { return val_starts_; }
  bool examples() const override { return examples_; }
  const std::string& cache_path() const override { return path_; }
  bool built_cache() const override { return built_; }

 private:
  std::unique_ptr<MappedTokenCache> cache_, val_cache_;
  std::string path_;
  bool built_;
  bool examples_ = false;
  std::span<const int32_t> train_, val_;
  std::span<const uint8_t> train_mask_, val_mask_;
  std::vector<uint64_t> train_starts_, val_starts_;
};

// Counts of what a build found, for its log line.
struct BuildCounts {
  size_t binary = 0;
  size_t records[3] = {0, 0, 0};  // by Record::Kind
  uint64_t trained = 0;
};

Status add_example(const Example& e, TokenCacheWriter* out, BuildCounts* counts) {
  if (e.ids.empty()) return Status::Ok();
  out->start_document();
  for (uint8_t t : e.trained) counts->trained += t;
  return out->append(e.ids, e.trained);
}

Status add_jsonl(const SourceFile& src, const std::string& text, const Tokenizer& tok, const ExampleOptions& options,
                 TokenCacheWriter* out, BuildCounts* counts) {
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = src.path + ":" + std::to_string(line_no) + ": ";
    Result<Record> record = parse_record(line);
    if (!record.ok()) return Status::InvalidArgument(where + record.status().message());
    Result<Example> example = tokenize_record(*record, tok, options);
    if (!example.ok()) return Status::InvalidArgument(where + example.status().message());
    ++counts->records[static_cast<int>(record->kind)];
    if (record->kind != Record::Kind::kText) out->set_flags(kFlagExamples);
    NS_RETURN_IF_ERROR(add_example(*example, out, counts));
  }
  return Status::Ok();
}

// Tokenizes every source into `cache_path`. InvalidArgument when nothing is left to train on.
Status build_cache(const std::string& data_path, const std::vector<SourceFile>& sources, const Tokenizer& tok,
                   const ExampleOptions& options, const std::string& meta, const std::string& cache_path) {
  uint64_t total_bytes = 0;
  for (const SourceFile& s : sources) total_bytes += s.bytes;
  common::log_info("tokenizing " + data_path + " (" + std::to_string(sources.size()) + " file(s), " +
                   std::to_string(total_bytes) + " bytes) with " + tok.spec() + " into " + cache_path);
  const auto t0 = std::chrono::steady_clock::now();
  NS_ASSIGN_OR_RETURN(std::unique_ptr<TokenCacheWriter> out, TokenCacheWriter::create(cache_path, meta));
  BuildCounts counts;
  for (const SourceFile& src : sources) {
    NS_ASSIGN_OR_RETURN(std::string text, common::read_file(src.path));
    if (src.jsonl) {
      NS_RETURN_IF_ERROR(add_jsonl(src, text, tok, options, out.get(), &counts));
    } else if (text.find('\0') != std::string::npos) {
      ++counts.binary;  // a binary file (an index, an image): not text to learn from
    } else {
      NS_RETURN_IF_ERROR(add_example(tokenize_text(text, tok), out.get(), &counts));
    }
  }
  if (out->token_count() == 0) {
    return Status::InvalidArgument(data_path + ": no text to train on (" +
                                   (sources.empty() ? std::string("no files")
                                                    : std::to_string(sources.size()) + " file(s), " +
                                                          std::to_string(counts.binary) + " of them binary, the rest empty") +
                                   ")");
  }
  const uint64_t count = out->token_count();
  const uint64_t docs = out->document_count();
  NS_RETURN_IF_ERROR(out->commit());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string kinds;
  for (int k = 0; k < 3; ++k)
    if (counts.records[k] > 0)
      kinds += (kinds.empty() ? "" : ", ") + std::to_string(counts.records[k]) + " " +
               std::string(record_kind_name(static_cast<Record::Kind>(k))) + " record(s)";
  common::log_info("tokenized " + std::to_string(count) + " tokens (" + std::to_string(counts.trained) +
                   " trained) in " + std::to_string(docs) + " document(s)" + (kinds.empty() ? "" : " [" + kinds + "]") +
                   " in " + std::to_string(secs) + " s" +
                   (counts.binary ? " (skipped " + std::to_string(counts.binary) + " binary file(s))" : ""));
  return Status::Ok();
}

// A valid cache of `data_path` (built when missing, stale or corrupt), mapped.
Result<std::unique_ptr<MappedTokenCache>> open_cache(const std::string& data_path, const std::string& dir,
                                                     const Tokenizer& tok, const ExampleOptions& examples,
                                                     std::string* cache_path, bool* built) {
  NS_ASSIGN_OR_RETURN(std::vector<SourceFile> sources, list_sources(data_path));
  std::error_code ec;
  // A cache folder inside a data directory is not data (else every build would make the next stale).
  const std::string cache_prefix = fs::weakly_canonical(dir, ec).string() + "/";
  std::erase_if(sources, [&](const SourceFile& s) {
    return fs::weakly_canonical(s.path, ec).string().starts_with(cache_prefix);
  });
  const std::string settings = example_settings(examples);
  const std::string path = (fs::path(dir) / cache_file_name(data_path, tok.fingerprint() + "|" + settings)).string();
  const std::string meta = cache_meta(data_path, tok.fingerprint(), tok.vocab_size(), sources, settings);
  *cache_path = path;
  MappedTokenCache::State state;
  std::string reason;
  std::unique_ptr<MappedTokenCache> cache = MappedTokenCache::open(path, meta, &state, &reason);
  if (cache) return cache;
  if (state == MappedTokenCache::State::kStale) common::log_warning("token cache " + path + " is stale (" + reason + "); rebuilding");
  if (state == MappedTokenCache::State::kCorrupt) common::log_warning("token cache " + path + " is corrupt (" + reason + "); rebuilding");
  NS_RETURN_IF_ERROR(build_cache(data_path, sources, tok, examples, meta, path));
  // The sources may have changed while we read them; the cache then names the old identity and is
  // rebuilt next time, which is the safe direction.
  cache = MappedTokenCache::open(path, meta, &state, &reason);
  if (!cache) return Status::IOError(path + ": the token cache just written does not read back: " + reason);
  *built = true;
  return cache;
}

// splitmix64 of the i-th counter value after `seed` (Vigna's reference constants).
uint64_t splitmix64_at(uint64_t seed, uint64_t i) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

Result<std::unique_ptr<TokenDataset>> TokenDataset::open(const DatasetOptions& options, const Tokenizer& tokenizer) {
  if (!(options.val_fraction >= 0.0 && options.val_fraction < 1.0))
    return Status::InvalidArgument("validation fraction " + std::to_string(options.val_fraction) + " is outside [0, 1)");
  if (options.data_path.empty()) return Status::InvalidArgument("no data path given");
  NS_ASSIGN_OR_RETURN(ExampleOptions examples, example_options(tokenizer, options.chat_template, options.train_on));
  const std::string dir = options.cache_dir.empty()
                              ? default_cache_dir(options.data_path, std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"))
                              : options.cache_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(dir + ": cannot create the token cache folder: " + ec.message());
  std::string path, val_path;
  bool built = false;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<MappedTokenCache> cache,
                      open_cache(options.data_path, dir, tokenizer, examples, &path, &built));
  std::unique_ptr<MappedTokenCache> val;
  if (!options.val_data_path.empty()) {
    NS_ASSIGN_OR_RETURN(val, open_cache(options.val_data_path, dir, tokenizer, examples, &val_path, &built));
  }
  return std::unique_ptr<TokenDataset>(
      new MappedDataset(std::move(cache), std::move(val), path, options.val_fraction, built));
}

// --- BatchSampler ---

BatchSampler::BatchSampler(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed)
    : tokens_(split == Split::kTrain ? data.train_tokens() : data.val_tokens()),
      mask_(split == Split::kTrain ? data.train_mask() : data.val_mask()),
      doc_starts_(split == Split::kTrain ? data.train_doc_starts() : data.val_doc_starts()),
      split_(split),
      batch_(batch),
      seq_len_(seq_len),
      seed_(seed) {
  CHECK_MSG(check_fits(data, split, batch, seq_len).ok(), "BatchSampler: split too short (call check_fits first)");
  plain_ = !has_documents() && std::all_of(mask_.begin(), mask_.end(), [](uint8_t m) { return m != 0; });
}

Status BatchSampler::check_fits(const TokenDataset& data, Split split, int batch, int seq_len) {
  if (batch <= 0 || seq_len <= 0)
    return Status::InvalidArgument("batch " + std::to_string(batch) + " and sequence length " + std::to_string(seq_len) +
                                   " must be positive");
  const size_t n = (split == Split::kTrain ? data.train_tokens() : data.val_tokens()).size();
  if (n < static_cast<size_t>(seq_len) + 1)
    return Status::InvalidArgument(data.cache_path() + ": the " + (split == Split::kTrain ? "training" : "validation") +
                                   " split holds " + std::to_string(n) + " tokens, fewer than seq_len+1 = " +
                                   std::to_string(seq_len + 1) + " (more data, or a smaller --seq)");
  return Status::Ok();
}

uint64_t BatchSampler::window_start(uint64_t draw, int row) const {
  const uint64_t i = draw * static_cast<uint64_t>(batch_) + static_cast<uint64_t>(row);
  const uint64_t T = static_cast<uint64_t>(seq_len_);
  if (split_ == Split::kTrain) {
    const uint64_t starts = tokens_.size() - T;  // windows of T+1 tokens start at 0 .. n-T-1
    return static_cast<uint64_t>((static_cast<unsigned __int128>(splitmix64_at(seed_, i)) * starts) >> 64);
  }
  const uint64_t windows = (tokens_.size() - 1) / T;
  return (i % windows) * T;
}

void BatchSampler::next(int32_t* inputs, int32_t* targets) {
  if (plain_) {  // one document, every token trained: the window as it is
    const size_t T = static_cast<size_t>(seq_len_);
    for (int b = 0; b < batch_; ++b) {
      const int32_t* w = tokens_.data() + window_start(draws_, b);
      std::memcpy(inputs + b * T, w, T * sizeof(int32_t));
      std::memcpy(targets + b * T, w + 1, T * sizeof(int32_t));
    }
    ++draws_;
    return;
  }
  scratch_positions_.resize(static_cast<size_t>(batch_) * seq_len_);
  next_packed(inputs, targets, scratch_positions_.data());
}

void BatchSampler::next_packed(int32_t* inputs, int32_t* targets, int32_t* positions) {
  const size_t T = static_cast<size_t>(seq_len_);
  for (int b = 0; b < batch_; ++b) {
    const uint64_t w = window_start(draws_, b);
    // The first document start after the window's first token.
    auto next_start = std::upper_bound(doc_starts_.begin(), doc_starts_.end(), w);
    int32_t pos = 0;
    for (size_t t = 0; t < T; ++t) {
      const uint64_t i = w + t;
      if (next_start != doc_starts_.end() && *next_start == i) {
        pos = 0;
        ++next_start;
      }
      inputs[b * T + t] = tokens_[i];
      positions[b * T + t] = pos++;
      // The last token of a document (its EOS) predicts the next document's first token, as in
      // pretraining on concatenated text; only the mask makes a target kIgnoreTarget.
      const bool trained = mask_.empty() || mask_[i + 1] != 0;
      targets[b * T + t] = trained ? tokens_[i + 1] : kIgnoreTarget;
    }
  }
  ++draws_;
}

int64_t BatchSampler::val_batches() const {
  if (tokens_.size() < static_cast<size_t>(seq_len_) + 1) return 0;
  const int64_t windows = static_cast<int64_t>((tokens_.size() - 1) / static_cast<size_t>(seq_len_));
  return std::max<int64_t>(1, windows / batch_);
}

}  // namespace trainer
