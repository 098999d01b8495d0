// safetensors writer (streamed to a temporary, fsynced, renamed) and reader (mmap + validation).
// The JSON header is built and parsed with nlohmann-json; the data is never copied on read.
#include "trainer/formats/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "common/atomic_file.h"

namespace trainer {
namespace {

using common::Result;
using common::Status;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t bytes;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kI32, "I32", 4}, {DType::kI64, "I64", 8},
};
// Dtypes of the format that nightshift does not handle: a file using them is valid, just unsupported.
constexpr const char* kUnsupportedDTypes[] = {"F64", "I16", "U16", "U32", "U64", "BOOL", "F8_E4M3", "F8_E5M2"};

// Headers beyond this are refused (the reference implementation caps at 100 MB too).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Element count of `shape`, or false on a negative dimension or overflow past `limit`.
bool element_count(const std::vector<int64_t>& shape, uint64_t limit, uint64_t* count) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    if (d != 0 && n > limit / static_cast<uint64_t>(d)) return false;
    n *= static_cast<uint64_t>(d);
  }
  *count = n;
  return true;
}

Status write_all(int fd, const void* data, size_t bytes, const std::string& path) {
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

Status corrupt(const std::string& path, const std::string& what) {
  return Status::Corruption(path + ": not a valid safetensors file: " + what);
}

}  // namespace

const char* dtype_name(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i.name;
  return "?";
}

size_t dtype_size(DType d) {
  for (const auto& i : kDTypes)
    if (i.dtype == d) return i.bytes;
  return 0;
}

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kDTypes)
    if (name == i.name) return i.dtype;
  return std::nullopt;
}

Status write_safetensors(const std::string& path, const std::vector<TensorRef>& tensors,
                         const std::map<std::string, std::string>& metadata) {
  for (const TensorRef& t : tensors)
    if (t.bytes > 0 && t.data == nullptr) return Status::InvalidArgument(path + ": tensor '" + t.name + "' has no data");
  return write_safetensors_streamed(
      path, tensors, [&tensors](size_t i) -> Result<const void*> { return tensors[i].data; }, metadata);
}

Status write_safetensors_streamed(const std::string& path, const std::vector<TensorRef>& tensors,
                                  const TensorProducer& produce, const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header["__metadata__"] = std::move(meta);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const TensorRef& t : tensors) {
    if (t.name == "__metadata__" || !names.insert(t.name).second)
      return Status::InvalidArgument(path + ": tensor name '" + t.name + "' repeated or reserved");
    uint64_t count = 0;
    if (!element_count(t.shape, UINT64_MAX / 8, &count) || count * dtype_size(t.dtype) != t.bytes)
      return Status::InvalidArgument(path + ": tensor '" + t.name + "': " + std::to_string(t.bytes) +
                                     " bytes do not match its shape and dtype " + dtype_name(t.dtype));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  uint8_t len_le[8];
  for (int i = 0; i < 8; ++i) len_le[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));

  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IOError(tmp + ": " + std::strerror(errno));
  Status s = write_all(fd, len_le, 8, path);
  if (s.ok()) s = write_all(fd, text.data(), text.size(), path);
  for (size_t i = 0; s.ok() && i < tensors.size(); ++i) {
    Result<const void*> data = produce(i);
    if (!data.ok()) {
      s = data.status();
    } else if (tensors[i].bytes > 0 && *data == nullptr) {
      s = Status::InvalidArgument(path + ": tensor '" + tensors[i].name + "' has no data");
    } else {
      s = write_all(fd, *data, tensors[i].bytes, path);
    }
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

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

void SafetensorsFile::release_resident_pages() const {
  // A private read-only mapping that was never written: MADV_DONTNEED only unmaps the pages.
  if (map_ != nullptr) ::madvise(map_, map_bytes_, MADV_DONTNEED);
}

void SafetensorsFile::release_resident_pages(const uint8_t* data, size_t bytes) const {
  const auto* begin = static_cast<const uint8_t*>(map_);
  if (map_ == nullptr || data < begin || data + bytes > begin + map_bytes_) return;
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  const uintptr_t hi = reinterpret_cast<uintptr_t>(data + bytes);
  ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Status::IOError(path + ": stat: " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path + ": not a regular file");
  }
  const uint64_t file_bytes = static_cast<uint64_t>(st.st_size);
  if (file_bytes < 8) {
    ::close(fd);
    return corrupt(path, "truncated (" + std::to_string(file_bytes) + " bytes, no header length)");
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return Status::IOError(path + ": mmap: " + std::strerror(map_err));

  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->map_ = map;
  f->map_bytes_ = file_bytes;
  const auto* base = static_cast<const uint8_t*>(map);

  uint64_t header_bytes = 0;
  for (int i = 0; i < 8; ++i) header_bytes |= static_cast<uint64_t>(base[i]) << (8 * i);
  if (header_bytes > kMaxHeaderBytes) return corrupt(path, "header length " + std::to_string(header_bytes) + " is implausible");
  if (8 + header_bytes > file_bytes)
    return corrupt(path, "truncated: header length " + std::to_string(header_bytes) + " runs past the end of the " +
                             std::to_string(file_bytes) + "-byte file");
  const uint8_t* data = base + 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - 8 - header_bytes;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(base + 8),
                                   reinterpret_cast<const char*>(base + 8 + header_bytes));
  } catch (const nlohmann::json::exception& e) {
    return corrupt(path, std::string("header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) return corrupt(path, "header is not a JSON object");

  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return corrupt(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return corrupt(path, "__metadata__ value of '" + m.key() + "' is not a string");
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "': ";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      return corrupt(path, where + "needs dtype, shape and data_offsets");
    const auto& jd = v["dtype"];
    const auto& js = v["shape"];
    const auto& jo = v["data_offsets"];
    if (!jd.is_string()) return corrupt(path, where + "dtype is not a string");
    const std::string dname = jd.get<std::string>();
    std::optional<DType> dtype = dtype_from_name(dname);
    if (!dtype) {
      for (const char* u : kUnsupportedDTypes)
        if (dname == u) return Status::InvalidArgument(path + ": " + where + "dtype " + dname + " is not supported");
      return corrupt(path, where + "unknown dtype '" + dname + "'");
    }
    if (!js.is_array()) return corrupt(path, where + "shape is not an array");
    std::vector<int64_t> shape;
    for (const auto& d : js) {
      if (!d.is_number_unsigned()) return corrupt(path, where + "shape has a non-integer or negative dimension");
      shape.push_back(d.get<int64_t>());
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() || !jo[1].is_number_unsigned())
      return corrupt(path, where + "data_offsets is not a pair of non-negative integers");
    const uint64_t begin = jo[0].get<uint64_t>();
    const uint64_t end = jo[1].get<uint64_t>();
    if (begin > end || end > data_bytes)
      return corrupt(path, where + "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                               ") outside the " + std::to_string(data_bytes) + " data bytes (truncated?)");
    uint64_t count = 0;
    if (!element_count(shape, UINT64_MAX / 8, &count) || count * dtype_size(*dtype) != end - begin)
      return corrupt(path, where + std::to_string(end - begin) + " bytes do not match its shape and dtype " + dname);
    f->tensors_[name] = Entry{*dtype, std::move(shape), data + begin, static_cast<size_t>(end - begin)};
    spans.emplace_back(begin, end, name);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t i = 1; i < spans.size(); ++i) {
    if (std::get<0>(spans[i]) < std::get<1>(spans[i - 1]))
      return corrupt(path, "tensors '" + std::get<2>(spans[i - 1]) + "' and '" + std::get<2>(spans[i]) + "' overlap");
  }
  return f;
}

Result<const SafetensorsFile::Entry*> SafetensorsFile::get(const std::string& name, DType dtype,
                                                           const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return Status::NotFound(path_ + ": no tensor '" + name + "'");
  const Entry& e = it->second;
  auto shape_str = [](const std::vector<int64_t>& s) {
    std::string out = "(";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + (s.size() == 1 ? ",)" : ")");
  };
  if (e.dtype != dtype || e.shape != shape)
    return Status::InvalidArgument(path_ + ": tensor '" + name + "' is " + dtype_name(e.dtype) + " " +
                                   shape_str(e.shape) + ", expected " + dtype_name(dtype) + " " + shape_str(shape));
  return &e;
}

}  // namespace trainer
