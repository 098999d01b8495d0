// HfCheckpoint (hf_checkpoint.h): the index, the shards and the conversions to fp32.
#include "trainer/formats/hf_checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "trainer/quant/format.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

Result<std::unique_ptr<HfCheckpoint>> HfCheckpoint::open(const std::string& dir) {
  std::unique_ptr<HfCheckpoint> c(new HfCheckpoint());
  c->dir_ = dir;
  const fs::path single = fs::path(dir) / "model.safetensors", index = fs::path(dir) / "model.safetensors.index.json";
  std::error_code ec;
  // shard file name -> the tensors the index places there (empty for a single file)
  std::map<std::string, std::set<std::string>> shards;
  if (fs::exists(index, ec)) {
    std::ifstream in(index);
    std::stringstream ss;
    ss << in.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return Status::Corruption(index.string() + ": not a safetensors index (expected an object with \"weight_map\")");
    for (const auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string()) return Status::Corruption(index.string() + ": the shard of " + tensor + " is not a string");
      const std::string name = file.get<std::string>();
      if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
        return Status::Corruption(index.string() + ": shard name '" + name + "' is not a file in the directory");
      shards[name].insert(tensor);
    }
    if (shards.empty()) return Status::Corruption(index.string() + ": the weight_map is empty");
  } else if (fs::exists(single, ec)) {
    shards["model.safetensors"];
  } else {
    return Status::NotFound(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (const auto& [name, listed] : shards) {
    const std::string path = (fs::path(dir) / name).string();
    if (!fs::exists(path, ec)) return Status::NotFound(path + ": shard listed in the index is missing");
    NS_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> f, SafetensorsFile::open(path));
    for (const auto& [tensor, entry] : f->tensors()) {
      if (!listed.empty() && !listed.count(tensor)) continue;  // the index decides where a tensor lives
      if (c->tensors_.count(tensor)) return Status::Corruption(path + ": tensor " + tensor + " is stored twice");
      c->tensors_[tensor] = Tensor{f.get(), &entry};
    }
    for (const std::string& t : listed) {
      if (!f->tensors().count(t)) return Status::Corruption(path + ": the index lists " + t + " here but the shard lacks it");
    }
    c->files_.push_back(std::move(f));
  }
  return c;
}

Status HfCheckpoint::read_f32(const std::string& name, float* out, int64_t numel, int part, int parts) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Status::NotFound(dir_ + ": no tensor " + name);
  const SafetensorsFile::Entry& e = *it->second.entry;
  int64_t n = 1;
  for (int64_t d : e.shape) n *= d;
  if (n != numel * parts || part < 0 || part >= parts) {
    return Status::InvalidArgument(it->second.file->path() + ": " + name + " has " + std::to_string(n) +
                                   " elements, the model needs " + std::to_string(numel) +
                                   (parts > 1 ? " x " + std::to_string(parts) : std::string()));
  }
  const int64_t first = static_cast<int64_t>(part) * numel;
  switch (e.dtype) {
    case DType::kF32:
      std::memcpy(out, e.data + sizeof(float) * first, sizeof(float) * numel);
      return Status::Ok();
    case DType::kF16:
    case DType::kBF16: {
      const bool f16 = e.dtype == DType::kF16;
      const uint8_t* src = e.data + 2 * first;
#pragma omp parallel for schedule(static) if (numel > (1 << 16))
      for (int64_t i = 0; i < numel; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      return Status::Ok();
    }
    default:
      return Status::InvalidArgument(it->second.file->path() + ": " + name + " is " + dtype_name(e.dtype) +
                                     " (expected F32, F16 or BF16)");
  }
}

void HfCheckpoint::release_resident_pages() const {
  for (const auto& f : files_) f->release_resident_pages();
}

}  // namespace trainer
