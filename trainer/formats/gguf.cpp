// GGUF reader: maps the file, then parses header, metadata and tensor infos with a bounds-checked
// cursor over the mapping; every tensor's data is checked to lie inside the file and apart from the
// others. The values' helpers (GgufValue) live here too.
#include "trainer/formats/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace trainer::formats {

using common::Result;
using common::Status;

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;

size_t value_size(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kF64); }

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace

// Parses the mapped bytes into a GgufFile; every read is bounds-checked.
class GgufParser {
 public:
  GgufParser(GgufFile& f, const uint8_t* p, size_t n) : f_(f), base_(p), end_(p + n), cur_(p) {}

  Status parse();

 private:
  Status corrupt(const std::string& what) const {
    return Status::Corruption(f_.path_ + ": not a valid GGUF file: " + what + " (at byte " +
                              std::to_string(cur_ - base_) + ")");
  }
  Status need(size_t bytes, const char* what) const {
    if (static_cast<size_t>(end_ - cur_) < bytes) return corrupt(std::string("truncated while reading ") + what);
    return Status::Ok();
  }
  template <typename T>
  Status read(T* out, const char* what) {
    NS_RETURN_IF_ERROR(need(sizeof(T), what));
    std::memcpy(out, cur_, sizeof(T));
    cur_ += sizeof(T);
    return Status::Ok();
  }
  Status read_string(std::string* out, const char* what) {
    uint64_t len = 0;
    NS_RETURN_IF_ERROR(read(&len, what));
    if (len > static_cast<uint64_t>(end_ - cur_)) {
      return corrupt(std::string(what) + " of " + std::to_string(len) + " bytes runs past the end of the file");
    }
    out->assign(reinterpret_cast<const char*>(cur_), static_cast<size_t>(len));
    cur_ += len;
    return Status::Ok();
  }
  Status read_value(GgufType type, GgufValue* v, const std::string& key, int depth);
  Status read_scalar(GgufType type, int64_t* i, double* f, const std::string& key);

  GgufFile& f_;
  const uint8_t* base_;
  const uint8_t* end_;
  const uint8_t* cur_;
};

Status GgufParser::read_scalar(GgufType type, int64_t* i, double* f, const std::string& key) {
  const char* what = "a metadata value";
  switch (type) {
    case GgufType::kU8: { uint8_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kI8: { int8_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kU16: { uint16_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kI16: { int16_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kU32: { uint32_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kI32: { int32_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kU64: { uint64_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = static_cast<int64_t>(x); break; }
    case GgufType::kI64: { int64_t x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *i = x; break; }
    case GgufType::kF32: { float x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *f = x; break; }
    case GgufType::kF64: { double x = 0; NS_RETURN_IF_ERROR(read(&x, what)); *f = x; break; }
    case GgufType::kBool: {
      uint8_t x = 0;
      NS_RETURN_IF_ERROR(read(&x, what));
      if (x > 1) return corrupt("key '" + key + "': bool value " + std::to_string(x));
      *i = x;
      break;
    }
    default: return corrupt("key '" + key + "': not a scalar type");
  }
  return Status::Ok();
}

Status GgufParser::read_value(GgufType type, GgufValue* v, const std::string& key, int depth) {
  v->type = type;
  if (type == GgufType::kString) return read_string(&v->str, "a string value");
  if (type != GgufType::kArray) return read_scalar(type, &v->i, &v->f, key);
  if (depth >= kMaxArrayDepth) return corrupt("key '" + key + "': arrays nested too deep");
  uint32_t elem = 0;
  uint64_t count = 0;
  NS_RETURN_IF_ERROR(read(&elem, "an array's element type"));
  if (!known_type(elem)) return corrupt("key '" + key + "': unknown array element type " + std::to_string(elem));
  NS_RETURN_IF_ERROR(read(&count, "an array's length"));
  v->elem = static_cast<GgufType>(elem);
  // Every element takes at least one byte (strings 8): a count past the file's end is corrupt.
  const size_t min_size = v->elem == GgufType::kString || v->elem == GgufType::kArray ? 8 : value_size(v->elem);
  if (count > static_cast<uint64_t>(end_ - cur_) / min_size) {
    return corrupt("key '" + key + "': array of " + std::to_string(count) + " elements runs past the end of the file");
  }
  const size_t n = static_cast<size_t>(count);
  if (v->elem == GgufType::kString) {
    v->strings.resize(n);
    for (size_t k = 0; k < n; ++k) NS_RETURN_IF_ERROR(read_string(&v->strings[k], "a string array element"));
  } else if (v->elem == GgufType::kArray) {
    v->items.resize(n);
    for (size_t k = 0; k < n; ++k) NS_RETURN_IF_ERROR(read_value(GgufType::kArray, &v->items[k], key, depth + 1));
  } else if (v->elem == GgufType::kF32 || v->elem == GgufType::kF64) {
    v->floats.resize(n);
    int64_t unused = 0;
    for (size_t k = 0; k < n; ++k) NS_RETURN_IF_ERROR(read_scalar(v->elem, &unused, &v->floats[k], key));
  } else {
    v->ints.resize(n);
    double unused = 0;
    for (size_t k = 0; k < n; ++k) NS_RETURN_IF_ERROR(read_scalar(v->elem, &v->ints[k], &unused, key));
  }
  return Status::Ok();
}

Status GgufParser::parse() {
  uint32_t magic = 0;
  NS_RETURN_IF_ERROR(read(&magic, "the magic"));
  if (magic != kMagic) return Status::Corruption(f_.path_ + ": not a GGUF file (bad magic)");
  NS_RETURN_IF_ERROR(read(&f_.version_, "the version"));
  if (f_.version_ != 2 && f_.version_ != 3) {
    const bool swapped = (f_.version_ & 0xffff) == 0 && f_.version_ != 0;
    return Status::InvalidArgument(f_.path_ + ": GGUF version " + std::to_string(f_.version_) +
                                   (swapped ? " (a big-endian file?)" : "") + " is not supported (only 2 and 3)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  NS_RETURN_IF_ERROR(read(&n_tensors, "the tensor count"));
  NS_RETURN_IF_ERROR(read(&n_kv, "the metadata count"));
  // A key takes at least 12 bytes (length + type), a tensor info at least 24.
  if (n_kv > static_cast<uint64_t>(end_ - cur_) / 12) return corrupt(std::to_string(n_kv) + " metadata entries cannot fit in the file");
  if (n_tensors > static_cast<uint64_t>(end_ - cur_) / 24) return corrupt(std::to_string(n_tensors) + " tensors cannot fit in the file");

  f_.metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t k = 0; k < n_kv; ++k) {
    std::string key;
    uint32_t type = 0;
    NS_RETURN_IF_ERROR(read_string(&key, "a metadata key"));
    NS_RETURN_IF_ERROR(read(&type, "a metadata type"));
    if (!known_type(type)) return corrupt("key '" + key + "' has unknown value type " + std::to_string(type));
    GgufValue v;
    NS_RETURN_IF_ERROR(read_value(static_cast<GgufType>(type), &v, key, 0));
    if (!f_.key_index_.emplace(key, f_.metadata_.size()).second) return corrupt("key '" + key + "' repeated");
    f_.metadata_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = f_.find("general.alignment")) {
    if (a->type != GgufType::kU32 || a->i == 0 || (a->i & (a->i - 1)) != 0) {
      return corrupt("general.alignment must be a u32 power of two");
    }
    f_.alignment_ = static_cast<uint64_t>(a->i);
  }

  f_.tensors_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t k = 0; k < n_tensors; ++k) {
    GgufTensor t;
    uint32_t n_dims = 0;
    NS_RETURN_IF_ERROR(read_string(&t.name, "a tensor name"));
    NS_RETURN_IF_ERROR(read(&n_dims, "a tensor's dimension count"));
    if (n_dims > kMaxDims) return corrupt("tensor '" + t.name + "' has " + std::to_string(n_dims) + " dimensions (at most 4)");
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      NS_RETURN_IF_ERROR(read(&dim, "a tensor dimension"));
      if (dim > static_cast<uint64_t>(INT64_MAX) || (dim != 0 && elements > static_cast<uint64_t>(INT64_MAX) / dim)) {
        return corrupt("tensor '" + t.name + "' has an impossible size");
      }
      elements *= dim;
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    NS_RETURN_IF_ERROR(read(&t.type, "a tensor type"));
    NS_RETURN_IF_ERROR(read(&t.offset, "a tensor offset"));
    t.traits = quant::type_traits(t.type);
    if (t.traits == nullptr) {
      return Status::InvalidArgument(f_.path_ + ": tensor '" + t.name + "' has type " + quant::ggml_type_name(t.type) +
                                     ", which nightshift does not read (supported: " + quant::supported_type_names() + ")");
    }
    if (t.row_length() % t.traits->block_elems != 0) {
      return corrupt("tensor '" + t.name + "' of type " + quant::ggml_type_name(t.type) + " has rows of " +
                     std::to_string(t.row_length()) + " values, not a multiple of its block of " +
                     std::to_string(t.traits->block_elems));
    }
    if (elements / static_cast<uint64_t>(t.traits->block_elems) > SIZE_MAX / t.traits->block_bytes) {
      return corrupt("tensor '" + t.name + "' has an impossible size");
    }
    t.bytes = quant::row_bytes(*t.traits, static_cast<int64_t>(elements));
    if (t.offset % f_.alignment_ != 0) {
      return corrupt("tensor '" + t.name + "' offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                     std::to_string(f_.alignment_));
    }
    if (!f_.tensor_index_.emplace(t.name, f_.tensors_.size()).second) return corrupt("tensor '" + t.name + "' repeated");
    f_.tensors_.push_back(std::move(t));
  }

  const uint64_t header_end = static_cast<uint64_t>(cur_ - base_);
  f_.data_offset_ = (header_end + f_.alignment_ - 1) / f_.alignment_ * f_.alignment_;
  const uint64_t file_bytes = static_cast<uint64_t>(end_ - base_);
  const uint64_t data_bytes = f_.data_offset_ <= file_bytes ? file_bytes - f_.data_offset_ : 0;
  std::vector<std::pair<uint64_t, size_t>> spans;  // (offset, tensor index)
  for (size_t k = 0; k < f_.tensors_.size(); ++k) {
    GgufTensor& t = f_.tensors_[k];
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset) {
      return Status::Corruption(f_.path_ + ": not a valid GGUF file: tensor '" + t.name + "' (" + dims_text(t.dims) + " " +
                                quant::ggml_type_name(t.type) + ", " + std::to_string(t.bytes) + " bytes at data offset " +
                                std::to_string(t.offset) + ") runs past the end of the file (truncated?)");
    }
    t.data = base_ + f_.data_offset_ + t.offset;
    if (t.bytes > 0) spans.emplace_back(t.offset, k);
  }
  std::sort(spans.begin(), spans.end());
  for (size_t k = 1; k < spans.size(); ++k) {
    const GgufTensor& a = f_.tensors_[spans[k - 1].second];
    const GgufTensor& b = f_.tensors_[spans[k].second];
    if (a.offset + a.bytes > b.offset) {
      return Status::Corruption(f_.path_ + ": not a valid GGUF file: tensors '" + a.name + "' and '" + b.name + "' overlap");
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound(path + ": no such file");
    return Status::IOError(path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IOError(path + ": stat: " + std::strerror(err));
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const size_t file_bytes = static_cast<size_t>(st.st_size);
  if (file_bytes == 0) {
    ::close(fd);
    return Status::Corruption(path + ": not a GGUF file (empty)");
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return Status::IOError(path + ": mmap: " + std::strerror(map_err));
  f->map_ = map;
  f->map_bytes_ = file_bytes;
  GgufParser parser(*f, static_cast<const uint8_t*>(map), file_bytes);
  NS_RETURN_IF_ERROR(parser.parse());
  return f;
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

void GgufFile::release_resident_pages() const {
  // A private read-only mapping that was never written: MADV_DONTNEED only drops the pages.
  if (map_ != nullptr) ::madvise(map_, map_bytes_, MADV_DONTNEED);
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {
Status wrong_type(const std::string& path, std::string_view key, const GgufValue& v, const char* wanted) {
  return Status::InvalidArgument(path + ": metadata key '" + std::string(key) + "' is a " + gguf_type_name(v.type) +
                                 ", expected " + wanted);
}
Status missing_key(const std::string& path, std::string_view key) {
  return Status::NotFound(path + ": metadata key '" + std::string(key) + "' is missing");
}
}  // namespace

Result<std::string> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing_key(path_, key);
  if (v->type != GgufType::kString) return wrong_type(path_, key, *v, "a string");
  return v->str;
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing_key(path_, key);
  if (!v->is_int()) return wrong_type(path_, key, *v, "an integer");
  return v->i;
}

Result<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing_key(path_, key);
  if (v->is_float()) return v->f;
  if (v->is_int()) return static_cast<double>(v->i);
  return wrong_type(path_, key, *v, "a number");
}

Result<const GgufValue*> GgufFile::get_array(std::string_view key, GgufType elem) const {
  const GgufValue* v = find(key);
  if (v == nullptr) return missing_key(path_, key);
  if (v->type != GgufType::kArray || v->elem != elem) {
    return Status::InvalidArgument(path_ + ": metadata key '" + std::string(key) + "' is not an array of " + gguf_type_name(elem));
  }
  return v;
}

Result<const GgufTensor*> GgufFile::get_tensor(std::string_view name, const std::vector<int64_t>& shape) const {
  const GgufTensor* t = find_tensor(name);
  if (t == nullptr) return Status::NotFound(path_ + ": tensor '" + std::string(name) + "' is missing");
  // ggml drops trailing dimensions of 1 when it writes a tensor (llama-quantize's [128] for the (1, 128)
  // gated-norm weight of a one-group Mamba-2): leading 1s of the row-major shape do not count.
  auto squeezed = [](const std::vector<int64_t>& s) {
    size_t i = 0;
    while (i + 1 < s.size() && s[i] == 1) ++i;
    return std::vector<int64_t>(s.begin() + static_cast<std::ptrdiff_t>(i), s.end());
  };
  if (squeezed(t->shape()) != squeezed(shape)) {
    return Status::InvalidArgument(path_ + ": tensor '" + std::string(name) + "' has shape " + dims_text(t->shape()) +
                                   ", expected " + dims_text(shape));
  }
  return t;
}

int64_t GgufTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

const char* gguf_type_name(GgufType t) {
  static constexpr const char* kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
  const auto k = static_cast<uint32_t>(t);
  return k < sizeof(kNames) / sizeof(kNames[0]) ? kNames[k] : "unknown";
}

bool GgufValue::is_int() const {
  return type != GgufType::kF32 && type != GgufType::kF64 && type != GgufType::kString && type != GgufType::kArray;
}
bool GgufValue::is_float() const { return type == GgufType::kF32 || type == GgufType::kF64; }
size_t GgufValue::array_size() const { return ints.size() + floats.size() + strings.size() + items.size(); }

GgufValue GgufValue::u32(uint32_t v) { GgufValue x; x.type = GgufType::kU32; x.i = v; return x; }
GgufValue GgufValue::i32(int32_t v) { GgufValue x; x.type = GgufType::kI32; x.i = v; return x; }
GgufValue GgufValue::u64(uint64_t v) { GgufValue x; x.type = GgufType::kU64; x.i = static_cast<int64_t>(v); return x; }
GgufValue GgufValue::f32(float v) { GgufValue x; x.type = GgufType::kF32; x.f = v; return x; }
GgufValue GgufValue::boolean(bool v) { GgufValue x; x.type = GgufType::kBool; x.i = v ? 1 : 0; return x; }
GgufValue GgufValue::string(std::string v) { GgufValue x; x.type = GgufType::kString; x.str = std::move(v); return x; }
GgufValue GgufValue::int_array(GgufType elem, std::vector<int64_t> v) {
  GgufValue x; x.type = GgufType::kArray; x.elem = elem; x.ints = std::move(v); return x;
}
GgufValue GgufValue::float_array(GgufType elem, std::vector<double> v) {
  GgufValue x; x.type = GgufType::kArray; x.elem = elem; x.floats = std::move(v); return x;
}
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue x; x.type = GgufType::kArray; x.elem = GgufType::kString; x.strings = std::move(v); return x;
}

}  // namespace trainer::formats
