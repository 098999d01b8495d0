// safetensors: the format of https://github.com/huggingface/safetensors (8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the
// raw little-endian data). Reading memory-maps the file and checks every offset and size. Writing
// pads the header with spaces so the data starts 8-byte aligned. Not a general tensor library.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace trainer {

enum class DType { kF32, kF16, kBF16, kI8, kU8, kI32, kI64 };
const char* dtype_name(DType d);   // "F32", "F16", "BF16", "I8", "U8", "I32", "I64"
size_t dtype_size(DType d);        // bytes per element
// The DType named `name` (as in a safetensors header); nullopt for any other name.
std::optional<DType> dtype_from_name(std::string_view name);

// A tensor to write: a view of memory owned by the caller.
struct TensorRef {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes atomically (temporary, fsync, rename, fsync dir), streaming the tensors (no copy of the
// data is made). Nothing is left at `path` on failure and an existing file there stays intact.
// Tensors are stored in the order given. InvalidArgument if a name repeats, is "__metadata__", or
// `bytes` differs from the product of `shape` times the dtype size; IOError if the OS refuses.
common::Status write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});

// The bytes of tensor `index` of a streamed write (its TensorRef::bytes of them), produced when the
// writer reaches it; the pointer need only stay valid until the next call. An error stops the write.
using TensorProducer = std::function<common::Result<const void*>(size_t index)>;
// write_safetensors with each tensor's data produced in order as it is written (TensorRef::data is
// ignored), so a file can be written from tensors that never exist in memory all at once. The same
// checks, atomicity and errors; the producer's error is returned as it is.
common::Status write_safetensors_streamed(const std::string& path, const std::vector<TensorRef>& tensors,
                                          const TensorProducer& produce,
                                          const std::map<std::string, std::string>& metadata = {});

// A mapped safetensors file (read-only, MAP_PRIVATE). open() validates everything before returning:
// NotFound if absent; Corruption naming the file if it is truncated, the header length runs past
// the end, the header is not JSON of the expected shape, a dtype is unknown, a tensor's byte count
// differs from its shape, or data_offsets are out of range or overlap; InvalidArgument for a
// dtype that exists in the format but nightshift does not handle (F64, BOOL, ...).
// Entry::data is 8-byte aligned when the writer padded its header (ours and the reference writers
// do); copy with memcpy if you accept files from writers that do not. Immutable after open():
// safe to read from several threads.
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

  // Drops this process's resident pages of the mapping, for a file whose tensors were copied out:
  // they stop counting in its resident memory, and anything read again later comes back from the
  // file (the mapping stays valid).
  void release_resident_pages() const;
  // The same for the pages holding [data, data + bytes) (a tensor of this file; rounded out to pages).
  void release_resident_pages(const uint8_t* data, size_t bytes) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace trainer
