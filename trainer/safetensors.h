// safetensors: the format of https://github.com/huggingface/safetensors (8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
// raw little-endian data). Reading memory-maps the file and checks every offset and size.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace trainer {

enum class DType { kF32, kF16, kBF16, kI8, kU8, kI32, kI64 };
const char* dtype_name(DType d);   // "F32", "F16", "BF16", "I8", "U8", "I32", "I64"
size_t dtype_size(DType d);

// A tensor to write: a view of memory owned by the caller.
struct TensorRef {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes atomically (temporary, fsync, rename, fsync dir). Nothing is left at `path` on failure.
common::Status write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});

// A mapped safetensors file. Errors name the file: truncated, bad header JSON, offsets out of range.
class SafetensorsFile {
 public:
  static common::Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    const uint8_t* data;  // points into the mapping; valid while the file object lives
    size_t bytes;
  };
  const std::map<std::string, Entry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // NotFound naming the tensor and the file; InvalidArgument if dtype or shape differ from expected.
  common::Result<const Entry*> get(const std::string& name, DType dtype, const std::vector<int64_t>& shape) const;
  const std::string& path() const { return path_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace trainer
