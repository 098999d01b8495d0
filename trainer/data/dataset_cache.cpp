// Source listing, default cache folder, and the token cache file (streamed write + atomic rename;
// mmap + validation on read). The layout is documented in dataset_cache.h.
#include "trainer/data/dataset_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/check.h"
#include "trainer/formats/checksum.h"

namespace trainer {
namespace {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

constexpr char kMagic[8] = {'N', 'S', 'T', 'O', 'K', 'E', 'N', 'S'};
constexpr uint32_t kCacheVersion = 2;  // 1: tokens only (no mask, no documents)
constexpr size_t kHeaderBytes = 64;
constexpr size_t kHeaderCrcOffset = 40;

void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
uint64_t align64(uint64_t n) { return (n + 63) & ~uint64_t{63}; }
uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

bool is_jsonl(const fs::path& p) { return p.extension() == ".jsonl" || p.extension() == ".ndjson"; }

Result<SourceFile> stat_source(const fs::path& path, const std::string& rel) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Status::IOError(path.string() + ": " + std::strerror(errno));
  SourceFile s;
  s.path = path.string();
  s.rel = rel;
  s.bytes = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.jsonl = is_jsonl(path);
  return s;
}

fs::path normalized_absolute(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec).lexically_normal();
  if (abs.has_filename() == false && abs.has_parent_path()) abs = abs.parent_path();  // "dir/" -> "dir"
  return abs;
}

}  // namespace

Result<std::vector<SourceFile>> list_sources(const std::string& data_path) {
  std::error_code ec;
  const fs::file_status st = fs::status(data_path, ec);
  if (!fs::exists(st)) return Status::NotFound(data_path + ": no such file or directory");
  std::vector<SourceFile> out;
  if (fs::is_regular_file(st)) {
    NS_ASSIGN_OR_RETURN(SourceFile s, stat_source(data_path, ""));
    out.push_back(std::move(s));
    return out;
  }
  if (!fs::is_directory(st)) return Status::InvalidArgument(data_path + ": not a regular file or directory");
  fs::recursive_directory_iterator it(data_path, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Status::IOError(data_path + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IOError(data_path + ": " + ec.message());
    const fs::directory_entry& e = *it;
    const std::string name = e.path().filename().string();
    if (!name.empty() && name[0] == '.') {
      if (e.is_directory(ec) && !e.is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    if (e.is_symlink(ec) || !e.is_regular_file(ec)) continue;  // symlinked dirs are not followed either
    NS_ASSIGN_OR_RETURN(SourceFile s, stat_source(e.path(), e.path().lexically_relative(data_path).generic_string()));
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(), [](const SourceFile& a, const SourceFile& b) { return a.rel < b.rel; });
  return out;
}

std::string default_cache_dir(const std::string&, const char* env_xdg, const char* env_home) {
  // Never beside the data: data folders are often shared or read-only (and a cache there is
  // somebody else's surprise). The user's cache directory, as the XDG base directory spec says.
  if (env_xdg != nullptr && env_xdg[0] == '/') return (fs::path(env_xdg) / "nightshift").string();
  if (env_home != nullptr && env_home[0] == '/') return (fs::path(env_home) / ".cache" / "nightshift").string();
  return (fs::temp_directory_path() / ("nightshift-cache-" + std::to_string(::getuid()))).string();
}

std::string cache_file_name(const std::string& data_path, const std::string& fingerprint) {
  const fs::path abs = normalized_absolute(data_path);
  std::string key = abs.string() + '\0' + fingerprint;
  const uint64_t h = fnv1a64(key);
  std::string stem;
  for (char c : abs.filename().string()) stem += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (stem.empty()) stem = "data";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return stem + "." + hex + ".tokens";
}

std::string cache_meta(const std::string& data_path, const std::string& fingerprint, int vocab_size,
                       const std::vector<SourceFile>& sources, const std::string& settings) {
  nlohmann::json files = nlohmann::json::array();
  for (const SourceFile& s : sources) files.push_back({{"path", s.rel}, {"bytes", s.bytes}, {"mtime_ns", s.mtime_ns}});
  nlohmann::json meta = {{"tokenizer", fingerprint},
                         {"vocab_size", vocab_size},
                         {"data", normalized_absolute(data_path).string()},
                         {"files", std::move(files)}};
  if (!settings.empty()) meta["settings"] = settings;
  return meta.dump();
}

// --- writer ---

Result<std::unique_ptr<TokenCacheWriter>> TokenCacheWriter::create(const std::string& path, const std::string& meta) {
  std::unique_ptr<TokenCacheWriter> w(new TokenCacheWriter());
  w->path_ = path;
  w->tmp_ = path + ".tmp." + std::to_string(::getpid());
  w->meta_ = meta;
  w->data_offset_ = align64(kHeaderBytes + meta.size());
  w->fd_ = ::open(w->tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd_ < 0) return Status::IOError(w->tmp_ + ": cannot write the token cache: " + std::strerror(errno));
  if (::lseek(w->fd_, static_cast<off_t>(w->data_offset_), SEEK_SET) < 0)
    return Status::IOError(w->tmp_ + ": seek: " + std::strerror(errno));
  return w;
}

TokenCacheWriter::~TokenCacheWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

static Status write_fully(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::write(fd, p, std::min<size_t>(bytes, 1u << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path + ": write: " + std::strerror(errno));
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status TokenCacheWriter::append(std::span<const int32_t> tokens, std::span<const uint8_t> trained) {
  CHECK(trained.empty() || trained.size() == tokens.size());
  const size_t bytes = tokens.size_bytes();
  crc_ = crc32(tokens.data(), bytes, crc_);
  count_ += tokens.size();
  if (trained.empty()) {
    mask_.insert(mask_.end(), tokens.size(), uint8_t{1});
  } else {
    for (uint8_t t : trained) mask_.push_back(t ? 1 : 0);
  }
  return write_fully(fd_, tokens.data(), bytes, tmp_);
}

void TokenCacheWriter::start_document() {
  if (docs_.empty() || docs_.back() != count_) docs_.push_back(count_);
}

Status TokenCacheWriter::commit() {
  // After the tokens: the mask, padding to 8 bytes, flags, the document count and starts.
  std::string tail(mask_.begin(), mask_.end());
  tail.resize(align8(count_ * 4 + count_) - count_ * 4, '\0');
  std::string words(16 + 8 * docs_.size(), '\0');
  auto* w = reinterpret_cast<uint8_t*>(words.data());
  put_u64(w, flags_);
  put_u64(w + 8, docs_.size());
  for (size_t i = 0; i < docs_.size(); ++i) put_u64(w + 16 + 8 * i, docs_[i]);
  tail += words;
  crc_ = crc32(tail.data(), tail.size(), crc_);
  NS_RETURN_IF_ERROR(write_fully(fd_, tail.data(), tail.size(), tmp_));
  std::string head(data_offset_, '\0');
  auto* h = reinterpret_cast<uint8_t*>(head.data());
  std::memcpy(h, kMagic, 8);
  put_u32(h + 8, kCacheVersion);
  put_u32(h + 12, static_cast<uint32_t>(meta_.size()));
  put_u64(h + 16, count_);
  put_u64(h + 24, data_offset_);
  put_u32(h + 32, crc_);
  put_u32(h + 36, crc32(meta_.data(), meta_.size()));
  put_u32(h + kHeaderCrcOffset, crc32(h, kHeaderCrcOffset));
  std::memcpy(h + kHeaderBytes, meta_.data(), meta_.size());
  if (::lseek(fd_, 0, SEEK_SET) < 0) return Status::IOError(tmp_ + ": seek: " + std::strerror(errno));
  NS_RETURN_IF_ERROR(write_fully(fd_, head.data(), head.size(), tmp_));
  if (::fsync(fd_) != 0) return Status::IOError(tmp_ + ": fsync: " + std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    return Status::IOError(tmp_ + ": close: " + std::strerror(errno));
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp_.c_str());
    return Status::IOError(path_ + ": rename: " + std::strerror(err));
  }
  return common::fsync_parent_dir(path_);
}

// --- reader ---

MappedTokenCache::~MappedTokenCache() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

std::unique_ptr<MappedTokenCache> MappedTokenCache::open(const std::string& path, const std::string& expected_meta,
                                                         State* state, std::string* reason) {
  auto fail = [&](State s, std::string why) -> std::unique_ptr<MappedTokenCache> {
    *state = s;
    *reason = std::move(why);
    return nullptr;
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(State::kMissing, "absent");
    return fail(State::kCorrupt, std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(State::kCorrupt, "not a regular file");
  }
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < kHeaderBytes) {
    ::close(fd);
    return fail(State::kCorrupt, "truncated header");
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return fail(State::kCorrupt, std::string("mmap: ") + std::strerror(errno));
  std::unique_ptr<MappedTokenCache> c(new MappedTokenCache());
  c->map_ = map;
  c->map_bytes_ = file_bytes;
  const auto* h = static_cast<const uint8_t*>(map);

  if (std::memcmp(h, kMagic, 8) != 0) return fail(State::kCorrupt, "not a nightshift token cache (bad magic)");
  if (get_u32(h + kHeaderCrcOffset) != crc32(h, kHeaderCrcOffset)) return fail(State::kCorrupt, "header checksum mismatch");
  if (get_u32(h + 8) != kCacheVersion) return fail(State::kStale, "format version " + std::to_string(get_u32(h + 8)));
  const uint64_t meta_bytes = get_u32(h + 12);
  const uint64_t count = get_u64(h + 16);
  const uint64_t data_offset = get_u64(h + 24);
  auto wrong_size = [&] {
    return fail(State::kCorrupt, "truncated or wrong size (" + std::to_string(file_bytes) + " bytes for " +
                                     std::to_string(count) + " tokens)");
  };
  if (data_offset != align64(kHeaderBytes + meta_bytes) || count > (UINT64_MAX - data_offset) / 8) return wrong_size();
  const uint64_t words_at = data_offset + align8(count * 5);
  if (file_bytes < words_at + 16) return wrong_size();
  const uint64_t n_docs = get_u64(h + words_at + 8);
  if (n_docs > count || file_bytes != words_at + 16 + 8 * n_docs) return wrong_size();
  std::string_view meta(reinterpret_cast<const char*>(h + kHeaderBytes), meta_bytes);
  if (get_u32(h + 36) != crc32(meta.data(), meta.size())) return fail(State::kCorrupt, "meta checksum mismatch");
  if (meta != expected_meta) {
    std::string why = "the data changed since it was built";
    try {
      nlohmann::json got = nlohmann::json::parse(meta), want = nlohmann::json::parse(expected_meta);
      if (got.value("tokenizer", "") != want.value("tokenizer", "")) why = "built with another tokenizer";
    } catch (const nlohmann::json::exception&) {
      return fail(State::kCorrupt, "meta is not JSON");
    }
    return fail(State::kStale, why);
  }
  const auto* tokens = reinterpret_cast<const int32_t*>(h + data_offset);
  if (get_u32(h + 32) != crc32(tokens, file_bytes - data_offset)) return fail(State::kCorrupt, "token checksum mismatch");
  c->tokens_ = std::span<const int32_t>(tokens, count);
  c->mask_ = std::span<const uint8_t>(h + data_offset + count * 4, count);
  c->flags_ = get_u64(h + words_at);
  c->doc_starts_ = std::span<const uint64_t>(reinterpret_cast<const uint64_t*>(h + words_at + 16), n_docs);
  *state = State::kValid;
  reason->clear();
  return c;
}

}  // namespace trainer
