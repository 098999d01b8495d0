// Absolute run paths and the run directory's copy of the tokenizer.
#include "app/train/run_paths.h"

#include <filesystem>

#include "common/atomic_file.h"

namespace app {

namespace fs = std::filesystem;
using common::Status;

namespace {

constexpr const char* kGpt2 = "gpt2:";

}  // namespace

std::string absolute_path(const std::string& path) {
  if (path.empty()) return path;
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) return path;
  std::string out = abs.lexically_normal().string();
  // "dir/" and "dir" name the same folder.
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string absolute_tokenizer_spec(const std::string& spec) {
  if (spec.rfind(kGpt2, 0) != 0 || spec.size() <= 5) return spec;
  return kGpt2 + absolute_path(spec.substr(5));
}

Status copy_tokenizer_into_run(const std::string& spec, const std::string& run_dir) {
  if (spec.rfind(kGpt2, 0) != 0 || spec.size() <= 5) return Status::Ok();
  const fs::path from(spec.substr(5)), to = fs::path(run_dir) / kRunTokenizerDir;
  std::error_code ec;
  fs::create_directories(to, ec);
  if (ec) return Status::IOError(to.string() + ": cannot create the tokenizer folder: " + ec.message());
  for (const char* name : {"encoder.json", "vocab.bpe", "vocab.json", "merges.txt"}) {
    if (!fs::exists(from / name, ec)) continue;
    NS_ASSIGN_OR_RETURN(std::string bytes, common::read_file((from / name).string()));
    NS_RETURN_IF_ERROR(common::write_file_atomic((to / name).string(), bytes));
  }
  return Status::Ok();
}

common::Result<std::unique_ptr<trainer::Tokenizer>> open_run_tokenizer(const std::string& spec,
                                                                      const std::string& run_dir) {
  auto tok = trainer::make_tokenizer(spec);
  if (tok.ok() || spec.rfind(kGpt2, 0) != 0) return tok;
  const fs::path copy = fs::path(run_dir) / kRunTokenizerDir;
  std::error_code ec;
  if (!fs::is_directory(copy, ec)) return tok;
  auto from_copy = trainer::make_tokenizer(kGpt2 + copy.string());
  return from_copy.ok() ? std::move(from_copy) : std::move(tok);
}

}  // namespace app
