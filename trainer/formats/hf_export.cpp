// Hugging Face model directories (hf_export.h): the weights by HF name (fused tensors assembled from
// their blocks), sharded safetensors and the index, written atomically; config.json's text comes from
// hf_config_export.cpp.
#include "trainer/formats/hf_export.h"

#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;
using nlohmann::json;

Result<uint64_t> parse_byte_size(std::string_view text) {
  const std::string t(text);
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(t, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  std::string unit = t.substr(used);
  for (char& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},      {"B", 1},        {"KB", 1e3},        {"MB", 1e6},           {"GB", 1e9},
      {"TB", 1e12}, {"KIB", 1024.0}, {"MIB", 1048576.0}, {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  for (const auto& [name, factor] : kUnits) {
    if (used > 0 && unit == name && value > 0 && std::isfinite(value)) {
      const double bytes = std::floor(value * factor);
      if (bytes >= 1 && bytes < 1.8e19) return static_cast<uint64_t>(bytes);
    }
  }
  return Status::InvalidArgument("'" + t + "' is not a size (e.g. 5GB, 200MB, 1GiB or a number of bytes)");
}

namespace {

// Our weights' shapes in HF's: the depthwise conv weights of mamba, mamba2, Granite and lfm2 are
// (Di, 1, K) there, (Di, K) here; Mamba-2's grouped norm scale is (Di) there, (G, Di/G) here, and
// its A_log and D (H) there, (H, 1) here.
std::vector<int64_t> hf_shape(const std::string& hf_name, const std::vector<int64_t>& shape) {
  if ((hf_name.ends_with("mixer.conv1d.weight") || hf_name.ends_with("mamba.conv1d.weight") ||
       hf_name.ends_with("conv.conv.weight")) &&
      shape.size() == 2)
    return {shape[0], 1, shape[1]};
  if ((hf_name.ends_with("mixer.norm.weight") || hf_name.ends_with("mamba.norm.weight")) && shape.size() == 2)
    return {shape[0] * shape[1]};
  if ((hf_name.ends_with(".A_log") || hf_name.ends_with(".D")) && shape.size() == 2 && shape[1] == 1) return {shape[0]};
  return shape;
}

std::string shard_name(int i, int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", i, n);
  return buf;
}

// Copies a file as it is (fsynced, atomically under its own name in `dir`).
Status copy_into(const std::string& file, const fs::path& dir) {
  NS_ASSIGN_OR_RETURN(std::string bytes, common::read_file(file));
  return common::write_file_atomic((dir / fs::path(file).filename()).string(), bytes);
}

}  // namespace

Status write_hf_model_dir(const std::string& dir, const Model& model, const HfLayout& layout,
                          const HfDirOptions& options, HfDirSummary* summary) {
  if (layout.arch == nullptr) return Status::InvalidArgument(dir + ": " + layout.why_not);
  std::error_code ec;
  const fs::path out = fs::path(dir).lexically_normal();
  const fs::path target = out.has_filename() ? out : out.parent_path();
  const fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  if (!fs::is_directory(parent, ec))
    return Status::NotFound(dir + ": the folder " + parent.string() + " does not exist");
  const bool exists = fs::exists(target, ec);
  if (exists && !fs::is_directory(target, ec)) return Status::InvalidArgument(dir + ": exists and is not a directory");
  if (exists && !fs::is_empty(target, ec) && !options.replace)
    return Status::InvalidArgument(dir + ": already exists and is not empty (use --force to replace it)");

  // The tensors by HF name, in the model's order, split into shards. A fused tensor is assembled
  // from its blocks (in place of its first block) in a buffer of its own.
  const TensorStore& store = model.tensors();
  std::vector<TensorRef> refs;
  std::map<std::string, std::vector<float>> fused;  // by HF name; nodes stay put while refs point in
  std::map<std::string, int> fused_blocks;
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const TensorSpec& s = store.specs()[i];
    if (s.role != TensorRole::kWeight) continue;
    if (s.dtype != DType::kF32) return Status::Internal(s.name + ": not an fp32 weight");
    auto it = layout.hf_names.find(s.name);
    if (it == layout.hf_names.end())
      return Status::InvalidArgument(dir + ": weight " + s.name + " has no Hugging Face name");
    auto part = layout.fused.find(s.name);
    if (part == layout.fused.end()) {
      refs.push_back({it->second, DType::kF32, hf_shape(it->second, s.shape), store.data(i), s.bytes});
      continue;
    }
    const TensorMapping& m = part->second;
    const size_t n = s.bytes / sizeof(float);
    auto [buf, first] = fused.try_emplace(it->second, n * static_cast<size_t>(m.slices));
    if (first) {
      std::vector<int64_t> shape = m.whole;
      if (shape.empty()) {
        shape = s.shape;
        shape.front() *= m.slices;
      }
      refs.push_back({it->second, DType::kF32, shape, buf->second.data(), buf->second.size() * sizeof(float)});
    }
    if (buf->second.size() != n * static_cast<size_t>(m.slices))
      return Status::Internal(it->second + ": blocks of different sizes");
    std::memcpy(buf->second.data() + n * static_cast<size_t>(m.slice), store.data(i), s.bytes);
    ++fused_blocks[it->second];
  }
  for (const auto& [ours, m] : layout.fused)
    if (fused_blocks[m.theirs.front()] != m.slices)
      return Status::InvalidArgument(dir + ": the model has " + std::to_string(fused_blocks[m.theirs.front()]) +
                                     " of the " + std::to_string(m.slices) + " blocks of " + m.theirs.front());
  std::vector<std::vector<TensorRef>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const TensorRef& r : refs) {
    if (!shards.back().empty() && in_shard + r.bytes > options.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(r);
    in_shard += r.bytes;
    total += r.bytes;
  }

  const fs::path tmp = parent / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return Status::IOError(tmp.string() + ": cannot create directory: " + ec.message());
  auto write_all = [&]() -> Status {
    const std::map<std::string, std::string> meta{{"format", "pt"}};
    NS_RETURN_IF_ERROR(common::write_file_atomic((tmp / "config.json").string(), options.config_json));
    const int n = static_cast<int>(shards.size());
    if (n == 1) {
      NS_RETURN_IF_ERROR(write_safetensors((tmp / "model.safetensors").string(), shards[0], meta));
    } else {
      json map = json::object();
      for (int i = 0; i < n; ++i) {
        const std::string name = shard_name(i + 1, n);
        NS_RETURN_IF_ERROR(write_safetensors((tmp / name).string(), shards[static_cast<size_t>(i)], meta));
        for (const TensorRef& r : shards[static_cast<size_t>(i)]) map[r.name] = name;
      }
      const json index{{"metadata", {{"total_size", total}}}, {"weight_map", map}};
      NS_RETURN_IF_ERROR(
          common::write_file_atomic((tmp / "model.safetensors.index.json").string(), index.dump(2) + "\n"));
    }
    for (const std::string& f : options.copy_files) NS_RETURN_IF_ERROR(copy_into(f, tmp));
    return Status::Ok();
  };
  Status st = write_all();
  // Into place: an existing directory is moved aside first and removed once the new one is there.
  fs::path old;
  if (st.ok() && exists) {
    old = parent / ("." + target.filename().string() + ".old-" + std::to_string(::getpid()));
    fs::remove_all(old, ec);
    if (::rename(target.c_str(), old.c_str()) != 0)
      st = Status::IOError(dir + ": cannot move the existing directory aside: " + std::strerror(errno));
  }
  if (st.ok() && ::rename(tmp.c_str(), target.c_str()) != 0) {
    st = Status::IOError(dir + ": cannot rename into place: " + std::strerror(errno));
    if (!old.empty()) ::rename(old.c_str(), target.c_str());
  }
  if (st.ok()) st = common::fsync_parent_dir(target.string());
  fs::remove_all(tmp, ec);
  if (!old.empty()) fs::remove_all(old, ec);
  if (!st.ok()) return st;
  if (summary != nullptr) *summary = {static_cast<int>(shards.size()), total, static_cast<int>(refs.size())};
  return Status::Ok();
}

}  // namespace trainer
