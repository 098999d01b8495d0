// GGUF, the file format of llama.cpp/ggml (versions 2 and 3, little-endian): a header, typed
// key/value metadata (general.*, <arch>.*, tokenizer.ggml.*), tensor infos (name, dims, ggml type,
// offset), then the tensor data, each tensor aligned to general.alignment (default 32).
// Reading memory-maps the file read-only and checks every count, string, size and offset before
// returning; the tensor data is never copied. Writing streams to a temporary and renames it.
// Tensor types are those of trainer/quant/ggml_types.h; any other type is refused naming it.
//
// Dims are in ggml's order: dims[0] is the contiguous one (a row's length), so a (rows, cols)
// row-major matrix has dims {cols, rows}. shape() gives the row-major order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "trainer/quant/ggml_types.h"

namespace trainer::formats {

// The metadata value types of GGUF (gguf_type in ggml's gguf.h), with their on-disk ids.
enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* gguf_type_name(GgufType t);  // "u32", "string", "array", ...

// One metadata value. Integers of every width (and bool) are held in `i` (a u64 past INT64_MAX
// as its two's-complement bits), floats in `f`, a string in `str`. An array holds its element
// type in `elem` and its elements in the one vector of that kind: `ints`, `floats`, `strings`,
// or `items` for arrays of arrays.
struct GgufValue {
  GgufType type = GgufType::kU32;
  GgufType elem = GgufType::kU8;  // arrays only
  int64_t i = 0;
  double f = 0;
  std::string str;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  std::vector<GgufValue> items;

  bool is_int() const;     // any integer type or bool
  bool is_float() const;   // f32 or f64
  size_t array_size() const;

  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue int_array(GgufType elem, std::vector<int64_t> v);
  static GgufValue float_array(GgufType elem, std::vector<double> v);
  static GgufValue string_array(std::vector<std::string> v);
};

// Metadata in file order.
using GgufMetadata = std::vector<std::pair<std::string, GgufValue>>;

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] contiguous
  uint32_t type = 0;          // ggml type id
  const quant::TypeTraits* traits = nullptr;
  uint64_t offset = 0;        // from the start of the data section
  size_t bytes = 0;
  const uint8_t* data = nullptr;  // into the mapping; valid while the file lives

  int64_t elements() const;
  std::vector<int64_t> shape() const { return {dims.rbegin(), dims.rend()}; }  // row-major
  int64_t row_length() const { return dims.empty() ? 1 : dims[0]; }
  int64_t rows() const { return row_length() == 0 ? 0 : elements() / row_length(); }
};

// A mapped GGUF file (read-only, MAP_PRIVATE: file-backed pages). Immutable after open(): safe to
// read from several threads. Errors name the file:
//   NotFound        the file is absent;
//   Corruption      bad magic, truncated anywhere, a count/string/array running past the end, a
//                   bad alignment, a tensor whose data runs past the end or overlaps another,
//                   dims not a multiple of the type's block, a repeated key or tensor name;
//   InvalidArgument a version other than 2 or 3 (1 is obsolete), a tensor type nightshift does not
//                   decode (naming the tensor and the type, listing the supported ones).
class GgufFile {
 public:
  static common::Result<std::unique_ptr<GgufFile>> open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data section starts in the file
  const GgufMetadata& metadata() const { return metadata_; }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }

  // Drops the mapping's resident pages (after the weights were copied out; reads fault them back).
  void release_resident_pages() const;

  // nullptr when absent.
  const GgufValue* find(std::string_view key) const;
  const GgufTensor* find_tensor(std::string_view name) const;

  // Typed getters: NotFound naming the key and the file when absent; InvalidArgument when the
  // value has another type.
  common::Result<std::string> get_string(std::string_view key) const;
  common::Result<int64_t> get_int(std::string_view key) const;
  common::Result<double> get_float(std::string_view key) const;  // accepts integers too
  common::Result<const GgufValue*> get_array(std::string_view key, GgufType elem) const;
  // The tensor `name` with the row-major `shape` expected by the caller: NotFound naming the tensor
  // and the file, InvalidArgument naming both shapes when they differ.
  common::Result<const GgufTensor*> get_tensor(std::string_view name, const std::vector<int64_t>& shape) const;

 private:
  GgufFile() = default;
  friend class GgufParser;
  std::string path_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  GgufMetadata metadata_;
  std::map<std::string, size_t, std::less<>> key_index_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;
};

// A tensor to write: a view of memory owned by the caller, already in `type`'s encoding.
struct GgufTensorRef {
  std::string name;
  uint32_t type = quant::kGgmlF32;
  std::vector<int64_t> dims;  // ggml order: dims[0] contiguous
  const void* data = nullptr;
  size_t bytes = 0;
};

// Writes a version-3 GGUF atomically (temporary, fsync, rename, fsync dir): the metadata in the
// order given, then the tensor infos and data, each tensor aligned to the metadata's
// general.alignment (a u32 power of two) or to 32 when it has none. InvalidArgument naming the
// path for a repeated key or tensor name, a bad general.alignment, a type outside the table, dims
// not a multiple of the block, or `bytes` disagreeing with dims and type; IOError if the OS
// refuses. Nothing is left at `path` on failure; an existing file there stays intact.
common::Status write_gguf(const std::string& path, const GgufMetadata& metadata,
                          const std::vector<GgufTensorRef>& tensors);

}  // namespace trainer::formats
