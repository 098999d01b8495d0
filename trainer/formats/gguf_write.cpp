// GGUF writer (version 3): builds the header (metadata and tensor infos) in memory, then streams it
// and the tensors' data to a temporary file, padding each tensor to the alignment, fsyncs and
// renames it over the target (see write_gguf in gguf.h).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/atomic_file.h"
#include "trainer/formats/gguf.h"

namespace trainer::formats {

using common::Status;

namespace {

class Buffer {
 public:
  template <typename T>
  void put(T v) {
    const size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &v, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.insert(bytes_.end(), s.begin(), s.end());
  }
  void pad_to(uint64_t alignment) { bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, 0); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Writes one scalar of type t from the integer or float held for it.
bool put_scalar(Buffer& b, GgufType t, int64_t i, double f) {
  switch (t) {
    case GgufType::kU8: b.put<uint8_t>(static_cast<uint8_t>(i)); return true;
    case GgufType::kI8: b.put<int8_t>(static_cast<int8_t>(i)); return true;
    case GgufType::kBool: b.put<uint8_t>(i != 0 ? 1 : 0); return true;
    case GgufType::kU16: b.put<uint16_t>(static_cast<uint16_t>(i)); return true;
    case GgufType::kI16: b.put<int16_t>(static_cast<int16_t>(i)); return true;
    case GgufType::kU32: b.put<uint32_t>(static_cast<uint32_t>(i)); return true;
    case GgufType::kI32: b.put<int32_t>(static_cast<int32_t>(i)); return true;
    case GgufType::kU64: b.put<uint64_t>(static_cast<uint64_t>(i)); return true;
    case GgufType::kI64: b.put<int64_t>(i); return true;
    case GgufType::kF32: b.put<float>(static_cast<float>(f)); return true;
    case GgufType::kF64: b.put<double>(f); return true;
    default: return false;
  }
}

bool put_value(Buffer& b, const GgufValue& v) {
  if (v.type == GgufType::kString) {
    b.put_string(v.str);
    return true;
  }
  if (v.type != GgufType::kArray) return put_scalar(b, v.type, v.i, v.f);
  b.put<uint32_t>(static_cast<uint32_t>(v.elem));
  switch (v.elem) {
    case GgufType::kString:
      b.put<uint64_t>(v.strings.size());
      for (const std::string& s : v.strings) b.put_string(s);
      return true;
    case GgufType::kArray:
      b.put<uint64_t>(v.items.size());
      for (const GgufValue& item : v.items) {
        if (item.type != GgufType::kArray || !put_value(b, item)) return false;
      }
      return true;
    case GgufType::kF32:
    case GgufType::kF64:
      b.put<uint64_t>(v.floats.size());
      for (double f : v.floats) put_scalar(b, v.elem, 0, f);
      return true;
    default:
      b.put<uint64_t>(v.ints.size());
      for (int64_t i : v.ints) {
        if (!put_scalar(b, v.elem, i, 0)) return false;
      }
      return true;
  }
}

Status write_all(int fd, const void* data, size_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, std::min<size_t>(bytes, 1u << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::IOError(path + ": write: " + std::strerror(errno));
    }
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status write_gguf(const std::string& path, const GgufMetadata& metadata, const std::vector<GgufTensorRef>& tensors) {
  auto bad = [&](const std::string& what) { return Status::InvalidArgument(path + ": cannot write GGUF: " + what); };
  uint64_t alignment = 32;
  Buffer header;
  header.put<uint32_t>(0x46554747);  // "GGUF"
  header.put<uint32_t>(3);
  header.put<uint64_t>(tensors.size());
  header.put<uint64_t>(metadata.size());
  std::set<std::string> keys;
  for (const auto& [key, value] : metadata) {
    if (!keys.insert(key).second) return bad("metadata key '" + key + "' repeated");
    if (key == "general.alignment") {
      if (value.type != GgufType::kU32 || value.i <= 0 || (value.i & (value.i - 1)) != 0) {
        return bad("general.alignment must be a u32 power of two");
      }
      alignment = static_cast<uint64_t>(value.i);
    }
    header.put_string(key);
    header.put<uint32_t>(static_cast<uint32_t>(value.type));
    if (!put_value(header, value)) return bad("metadata key '" + key + "' has a value of no GGUF type");
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const GgufTensorRef& t : tensors) {
    if (!names.insert(t.name).second) return bad("tensor name '" + t.name + "' repeated");
    const quant::TypeTraits* traits = quant::type_traits(t.type);
    if (traits == nullptr) return bad("tensor '" + t.name + "' has type " + quant::ggml_type_name(t.type) + ", not in the type table");
    if (t.dims.size() > 4) return bad("tensor '" + t.name + "' has more than 4 dimensions");
    int64_t elements = 1;
    for (int64_t d : t.dims) {
      if (d < 0) return bad("tensor '" + t.name + "' has a negative dimension");
      elements *= d;
    }
    const int64_t row = t.dims.empty() ? 1 : t.dims[0];
    if (row % traits->block_elems != 0) {
      return bad("tensor '" + t.name + "': rows of " + std::to_string(row) + " values are not a multiple of " +
                 quant::ggml_type_name(t.type) + "'s block of " + std::to_string(traits->block_elems));
    }
    if (quant::row_bytes(*traits, elements) != t.bytes) {
      return bad("tensor '" + t.name + "': " + std::to_string(t.bytes) + " bytes do not match its dims and type " +
                 quant::ggml_type_name(t.type));
    }
    if (t.bytes > 0 && t.data == nullptr) return bad("tensor '" + t.name + "' has no data");
    header.put_string(t.name);
    header.put<uint32_t>(static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) header.put<uint64_t>(static_cast<uint64_t>(d));
    header.put<uint32_t>(t.type);
    header.put<uint64_t>(offset);
    offset += (t.bytes + alignment - 1) / alignment * alignment;
  }
  header.pad_to(alignment);

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(tmp + ": " + std::strerror(errno));
  Status s = write_all(fd, header.bytes().data(), header.bytes().size(), path);
  const std::string zeros(alignment, '\0');
  for (size_t k = 0; s.ok() && k < tensors.size(); ++k) {
    s = write_all(fd, tensors[k].data, tensors[k].bytes, path);
    const size_t pad = static_cast<size_t>((alignment - tensors[k].bytes % alignment) % alignment);
    if (s.ok() && pad > 0) s = write_all(fd, zeros.data(), pad, path);
  }
  if (s.ok() && ::fsync(fd) != 0) s = Status::IOError(path + ": fsync: " + std::strerror(errno));
  if (::close(fd) != 0 && s.ok()) s = Status::IOError(path + ": close: " + std::strerror(errno));
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = Status::IOError(path + ": rename: " + std::strerror(errno));
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return common::fsync_parent_dir(path);
}

}  // namespace trainer::formats
