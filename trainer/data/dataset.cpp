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

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

class MappedDataset final : public TokenDataset {
 public:
  MappedDataset(std::unique_ptr<MappedTokenCache> cache, std::string path, double val_fraction, bool built)
      : cache_(std::move(cache)), path_(std::move(path)), built_(built) {
    const std::span<const int32_t> all = cache_->tokens();
    const size_t n_val = static_cast<size_t>(std::floor(static_cast<double>(all.size()) * val_fraction));
    train_ = all.first(all.size() - n_val);
    val_ = all.last(n_val);
  }
  std::span<const int32_t> train_tokens() const override { return train_; }
  std::span<const int32_t> val_tokens() const override { return val_; }
  const std::string& cache_path() const override { return path_; }
  bool built_cache() const override { return built_; }

 private:
  std::unique_ptr<MappedTokenCache> cache_;
  std::string path_;
  bool built_;
  std::span<const int32_t> train_, val_;
};

// Appends the tokens of one document, then a newline if the document does not end with one.
Status add_document(std::string_view doc, const Tokenizer& tok, const std::vector<int32_t>& newline,
                    TokenCacheWriter* out) {
  if (doc.empty()) return Status::Ok();
  NS_RETURN_IF_ERROR(out->append(tok.encode(doc)));
  if (doc.back() != '\n') NS_RETURN_IF_ERROR(out->append(newline));
  return Status::Ok();
}

Status add_jsonl(const SourceFile& src, const std::string& text, const Tokenizer& tok,
                 const std::vector<int32_t>& newline, TokenCacheWriter* out) {
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const std::string where = src.path + ":" + std::to_string(line_no) + ": ";
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      return Status::InvalidArgument(where + "not valid JSON (" + e.what() + ")");
    }
    auto it = record.is_object() ? record.find("text") : record.end();
    if (!record.is_object() || it == record.end() || !it->is_string())
      return Status::InvalidArgument(where + "expected an object with a string field \"text\"");
    NS_RETURN_IF_ERROR(add_document(it->get_ref<const std::string&>(), tok, newline, out));
  }
  return Status::Ok();
}

// Tokenizes every source into `cache_path`. InvalidArgument when nothing is left to train on.
Status build_cache(const DatasetOptions& options, const std::vector<SourceFile>& sources, const Tokenizer& tok,
                   const std::string& meta, const std::string& cache_path) {
  uint64_t total_bytes = 0;
  for (const SourceFile& s : sources) total_bytes += s.bytes;
  common::log_info("tokenizing " + options.data_path + " (" + std::to_string(sources.size()) + " file(s), " +
                   std::to_string(total_bytes) + " bytes) with " + tok.spec() + " into " + cache_path);
  const auto t0 = std::chrono::steady_clock::now();
  NS_ASSIGN_OR_RETURN(std::unique_ptr<TokenCacheWriter> out, TokenCacheWriter::create(cache_path, meta));
  const std::vector<int32_t> newline = tok.encode("\n");
  size_t binary = 0;
  for (const SourceFile& src : sources) {
    NS_ASSIGN_OR_RETURN(std::string text, common::read_file(src.path));
    if (src.jsonl) {
      NS_RETURN_IF_ERROR(add_jsonl(src, text, tok, newline, out.get()));
    } else if (text.find('\0') != std::string::npos) {
      ++binary;  // a binary file (an index, an image): not text to learn from
    } else {
      NS_RETURN_IF_ERROR(add_document(text, tok, newline, out.get()));
    }
  }
  if (out->token_count() == 0) {
    return Status::InvalidArgument(options.data_path + ": no text to train on (" +
                                   (sources.empty() ? std::string("no files")
                                                    : std::to_string(sources.size()) + " file(s), " +
                                                          std::to_string(binary) + " of them binary, the rest empty") +
                                   ")");
  }
  const uint64_t count = out->token_count();
  NS_RETURN_IF_ERROR(out->commit());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  common::log_info("tokenized " + std::to_string(count) + " tokens in " + std::to_string(secs) + " s" +
                   (binary ? " (skipped " + std::to_string(binary) + " binary file(s))" : ""));
  return Status::Ok();
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
  NS_ASSIGN_OR_RETURN(std::vector<SourceFile> sources, list_sources(options.data_path));

  const std::string dir = options.cache_dir.empty()
                              ? default_cache_dir(options.data_path, std::getenv("XDG_CACHE_HOME"), std::getenv("HOME"))
                              : options.cache_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError(dir + ": cannot create the token cache folder: " + ec.message());
  // A cache folder inside a data directory is not data (else every build would make the next stale).
  const std::string cache_prefix = fs::weakly_canonical(dir, ec).string() + "/";
  std::erase_if(sources, [&](const SourceFile& s) {
    return fs::weakly_canonical(s.path, ec).string().starts_with(cache_prefix);
  });
  const std::string path = (fs::path(dir) / cache_file_name(options.data_path, tokenizer.fingerprint())).string();
  const std::string meta = cache_meta(options.data_path, tokenizer.fingerprint(), tokenizer.vocab_size(), sources);

  MappedTokenCache::State state;
  std::string reason;
  std::unique_ptr<MappedTokenCache> cache = MappedTokenCache::open(path, meta, &state, &reason);
  bool built = false;
  if (!cache) {
    if (state == MappedTokenCache::State::kStale) common::log_warning("token cache " + path + " is stale (" + reason + "); rebuilding");
    if (state == MappedTokenCache::State::kCorrupt) common::log_warning("token cache " + path + " is corrupt (" + reason + "); rebuilding");
    NS_RETURN_IF_ERROR(build_cache(options, sources, tokenizer, meta, path));
    // The sources may have changed while we read them; the cache then names the old identity and is
    // rebuilt next time, which is the safe direction.
    cache = MappedTokenCache::open(path, meta, &state, &reason);
    if (!cache) return Status::IOError(path + ": the token cache just written does not read back: " + reason);
    built = true;
  }
  return std::unique_ptr<TokenDataset>(new MappedDataset(std::move(cache), path, options.val_fraction, built));
}

// --- BatchSampler ---

BatchSampler::BatchSampler(const TokenDataset& data, Split split, int batch, int seq_len, uint64_t seed)
    : tokens_(split == Split::kTrain ? data.train_tokens() : data.val_tokens()),
      split_(split),
      batch_(batch),
      seq_len_(seq_len),
      seed_(seed) {
  CHECK_MSG(check_fits(data, split, batch, seq_len).ok(), "BatchSampler: split too short (call check_fits first)");
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
  const size_t T = static_cast<size_t>(seq_len_);
  for (int b = 0; b < batch_; ++b) {
    const int32_t* w = tokens_.data() + window_start(draws_, b);
    std::memcpy(inputs + b * T, w, T * sizeof(int32_t));
    std::memcpy(targets + b * T, w + 1, T * sizeof(int32_t));
  }
  ++draws_;
}

int64_t BatchSampler::val_batches() const {
  if (tokens_.size() < static_cast<size_t>(seq_len_) + 1) return 0;
  const int64_t windows = static_cast<int64_t>((tokens_.size() - 1) / static_cast<size_t>(seq_len_));
  return std::max<int64_t>(1, windows / batch_);
}

}  // namespace trainer
