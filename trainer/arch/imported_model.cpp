// ImportedModel (imported_model.h): opening a GGUF file or a Hugging Face directory through its
// architecture, checking every tensor the model needs, and reading weights as fp32 or in place.
#include "trainer/arch/imported_model.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "trainer/formats/checksum.h"
#include "trainer/layout.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

int64_t numel(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Where a mapped tensor's values are in a GGUF file: the whole tensor, or row block t.slice of
// t.slices (its rows counted over all leading dimensions, as an expert of ffn_gate_exps).
struct GgufPart {
  const formats::GgufTensor* tensor = nullptr;
  const uint8_t* data = nullptr;
};
Result<GgufPart> gguf_part(const formats::GgufFile& f, const TensorMapping& t, const std::vector<int64_t>& shape) {
  const std::string& name = t.theirs.front();
  if (t.slices == 0) {
    NS_ASSIGN_OR_RETURN(const formats::GgufTensor* g, f.get_tensor(name, shape));
    return GgufPart{g, g->data};
  }
  const formats::GgufTensor* g = f.find_tensor(name);
  if (g == nullptr) return Status::NotFound(f.path() + ": tensor '" + name + "' is missing");
  const int64_t rows = shape.empty() ? 1 : shape.front(), cols = rows > 0 ? numel(shape) / rows : 0;
  if (g->row_length() != cols || g->rows() != rows * t.slices)
    return Status::InvalidArgument(f.path() + ": tensor '" + name + "' has shape " + shape_str(g->shape()) +
                                   ", expected " + std::to_string(t.slices) + " blocks of " + shape_str(shape));
  const size_t stride = quant::row_bytes(*g->traits, cols);
  return GgufPart{g, g->data + static_cast<size_t>(t.slice) * static_cast<size_t>(rows) * stride};
}

// The weights a model of `config` has, by nightshift name, with their row-major shapes.
Result<std::map<std::string, std::vector<int64_t>>> model_weights(const ModelConfig& config) {
  RunShape probe;
  probe.training = false;
  probe.batch = 1;
  probe.seq_len = 1;
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, list_run_tensors(config, probe));
  std::map<std::string, std::vector<int64_t>> out;
  for (const TensorSpec& s : specs) {
    if (s.role == TensorRole::kWeight || s.role == TensorRole::kFrozenWeight) out[s.name] = s.shape;
  }
  return out;
}

// A model name for run directories: the file's stem or the directory's name.
std::string name_of(const std::string& path, bool gguf) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  std::string n = gguf ? p.stem().string() : p.filename().string();
  for (char& ch : n) {
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') ch = '-';
  }
  return n.empty() ? "model" : n;
}

// CRC-32 of the first `bytes` bytes of a file.
Result<uint32_t> crc_of_prefix(const std::string& path, uint64_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError(path + ": cannot read");
  std::vector<char> buf(1 << 16);
  uint32_t crc = 0;
  while (bytes > 0 && in) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min<uint64_t>(bytes, buf.size())));
    const auto got = static_cast<uint64_t>(in.gcount());
    if (got == 0) break;
    crc = crc32(buf.data(), got, crc);
    bytes -= got;
  }
  return crc;
}

}  // namespace

bool ImportedModel::is_importable(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::exists(fs::path(path) / "config.json", ec);
  return path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

Result<ImportedModel::ConfigOnly> ImportedModel::read_hf_config(const std::string& config_json) {
  ConfigOnly out;
  NS_ASSIGN_OR_RETURN(HfConfig hf, HfConfig::load(config_json));
  NS_ASSIGN_OR_RETURN(out.architecture, architecture_for_hf(hf));
  NS_ASSIGN_OR_RETURN(out.config, out.architecture->from_hf(hf));
  const fs::path dir = fs::path(config_json).parent_path();
  std::error_code ec;
  if (fs::exists(dir / "tokenizer.json", ec)) {
    out.tokenizer_spec = "hf:" + (dir.empty() ? std::string(".") : dir.string());
  } else if (fs::exists(dir / "tokenizer.model", ec)) {
    out.tokenizer_spec = "spm:" + (dir / "tokenizer.model").string();
  }
  out.config.name = name_of(dir.empty() ? std::string(".") : dir.string(), false);
  return out;
}

Result<std::unique_ptr<ImportedModel>> ImportedModel::open(const std::string& path) {
  std::unique_ptr<ImportedModel> m(new ImportedModel());
  m->path_ = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string config_path = (fs::path(path) / "config.json").string();
    NS_ASSIGN_OR_RETURN(HfConfig hf, HfConfig::load(config_path));
    NS_ASSIGN_OR_RETURN(m->arch_, architecture_for_hf(hf));
    NS_ASSIGN_OR_RETURN(m->config_, m->arch_->from_hf(hf));
    NS_ASSIGN_OR_RETURN(m->hf_, HfCheckpoint::open(path));
    m->tensors_ = m->arch_->hf_tensors(m->config_);
    if (fs::exists(fs::path(path) / "tokenizer.json", ec)) {
      m->tokenizer_ = "hf:" + path;
    } else if (fs::exists(fs::path(path) / "tokenizer.model", ec)) {
      m->tokenizer_ = "spm:" + (fs::path(path) / "tokenizer.model").string();
    }
    std::ifstream in(config_path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    std::string id = text.str();
    for (const auto& [name, t] : m->hf_->tensors()) {
      id += name + dtype_name(t.entry->dtype) + shape_str(t.entry->shape);
    }
    m->identity_ = hex32(crc32(id.data(), id.size()));
  } else {
    NS_ASSIGN_OR_RETURN(m->gguf_, formats::GgufFile::open(path));
    NS_ASSIGN_OR_RETURN(std::string arch_name, m->gguf_->get_string("general.architecture"));
    NS_ASSIGN_OR_RETURN(m->arch_, architecture_for_gguf(arch_name, path));
    NS_ASSIGN_OR_RETURN(m->config_, m->arch_->from_gguf(*m->gguf_));
    m->tensors_ = m->arch_->gguf_tensors(m->config_);
    const formats::GgufValue* tok = m->gguf_->find("tokenizer.ggml.model");
    if (tok != nullptr && tok->type == formats::GgufType::kString && tok->str != "no_vocab" && !tok->str.empty()) {
      m->tokenizer_ = "gguf:" + path;
    }
    NS_ASSIGN_OR_RETURN(uint32_t crc, crc_of_prefix(path, m->gguf_->data_offset()));
    m->identity_ = hex32(crc);
  }
  m->config_.name = name_of(path, m->gguf_ != nullptr);
  m->row_orders_.resize(m->tensors_.size());
  for (size_t i = 0; i < m->tensors_.size(); ++i) {
    const TensorMapping& t = m->tensors_[i];
    if (t.transform == TensorTransform::kRopePermute) {
      const int64_t rows = static_cast<int64_t>(t.heads) * m->config_.head_dim();
      m->row_orders_[i] = rope_row_order(t.heads, rows, t.rotary);
    }
  }
  NS_RETURN_IF_ERROR(m->check_tensors());
  return m;
}

const TensorMapping* ImportedModel::mapping(const std::string& ours) const {
  for (const TensorMapping& t : tensors_) {
    if (t.ours == ours) return &t;
  }
  return nullptr;
}

Status ImportedModel::check_tensors() const {
  NS_ASSIGN_OR_RETURN(auto weights, model_weights(config_));
  for (const auto& [name, shape] : weights) {
    const TensorMapping* t = mapping(name);
    if (t == nullptr) {
      return Status::InvalidArgument(path_ + ": the " + arch_->name + " architecture has no tensor for " + name);
    }
    const std::string& theirs = t->theirs.front();
    if (gguf_) {
      NS_RETURN_IF_ERROR(gguf_part(*gguf_, *t, shape).status());
    } else {
      bool found = false;
      for (const std::string& alt : t->theirs) {
        auto it = hf_->tensors().find(alt);
        if (it == hf_->tensors().end()) continue;
        found = true;
        if (numel(it->second.entry->shape) != numel(shape) * std::max(t->slices, 1)) {
          return Status::InvalidArgument(path_ + ": tensor " + alt + " is " + shape_str(it->second.entry->shape) +
                                         ", the config says " + shape_str(shape));
        }
        break;
      }
      if (!found) return Status::InvalidArgument(path_ + ": the checkpoint has no tensor " + theirs);
    }
  }
  return Status::Ok();
}

int64_t ImportedModel::parameter_count() const {
  auto weights = model_weights(config_);
  if (!weights.ok()) return 0;
  int64_t n = 0;
  for (const auto& [name, shape] : *weights) n += numel(shape);
  return n;
}

WeightReader ImportedModel::f32_reader() const {
  return [this](const std::string& name, const std::vector<int64_t>& shape, float* out) -> Status {
    const TensorMapping* t = mapping(name);
    if (t == nullptr) return Status::NotFound(path_ + ": no tensor for " + name);
    const int64_t n = numel(shape);
    const int64_t rows = shape.empty() ? 1 : shape[0], cols = rows > 0 ? n / rows : 0;
    const bool direct = t->transform == TensorTransform::kNone;
    float* dst = out;
    if (!direct) {  // decoded as stored, then transformed into `out`
      staging_.resize(static_cast<size_t>(n));
      dst = staging_.data();
    }
    if (gguf_) {
      NS_ASSIGN_OR_RETURN(GgufPart part, gguf_part(*gguf_, *t, shape));
      const quant::TypeTraits& traits = *part.tensor->traits;
      const int64_t len = part.tensor->row_length(), grows = len > 0 ? n / len : 0;
      const size_t stride = quant::row_bytes(traits, len);
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
      for (int64_t r = 0; r < grows; ++r) traits.decode_row(part.data + static_cast<size_t>(r) * stride, dst + r * len, len);
    } else {
      std::string found = t->theirs.front();
      for (const std::string& alt : t->theirs) {
        if (hf_->has(alt)) found = alt;
      }
      // The whole tensor, or row block `slice` of the fused one.
      NS_RETURN_IF_ERROR(hf_->read_f32(found, dst, n, t->slice, std::max(t->slices, 1)));
    }
    if (!direct) transform_to_ours(t->transform, t->heads, dst, out, rows, cols, t->rotary);
    return Status::Ok();
  };
}

WeightLookup ImportedModel::f32_lookup() const {
  return [this, read = f32_reader()](const std::string& name, const std::vector<int64_t>& shape) -> Result<const float*> {
    buffer_.resize(static_cast<size_t>(numel(shape)));
    NS_RETURN_IF_ERROR(read(name, shape, buffer_.data()));
    return static_cast<const float*>(buffer_.data());
  };
}

Result<uint64_t> ImportedModel::mapped_linear_bytes(const ModelConfig& config,
                                                   const quant::TypeTraits* encoding) const {
  RunShape full;  // a full listing shows every linear weight with its (out, in)
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, list_run_tensors(config, full));
  uint64_t bytes = 0;
  for (const TensorSpec& t : specs) {
    if (!t.linear || t.role != TensorRole::kWeight || t.shape.size() != 2) continue;
    const int64_t rows = t.shape[0], cols = t.shape[1];
    if (encoding != nullptr) {
      bytes += static_cast<uint64_t>(rows) * quant::row_bytes(*quant::encoding_for_cols(encoding, cols), cols);
    } else {
      NS_ASSIGN_OR_RETURN(quant::TypedMatrix m, typed(t.name, rows, cols));
      bytes += static_cast<uint64_t>(rows) * m.row_stride();
    }
  }
  return bytes;
}

Result<quant::TypedMatrix> ImportedModel::typed(const std::string& name, int64_t out, int64_t in) const {
  const TensorMapping* t = mapping(name);
  if (t == nullptr) return Status::NotFound(path_ + ": no tensor for " + name);
  if (t->transform != TensorTransform::kNone && t->transform != TensorTransform::kRopePermute) {
    return Status::InvalidArgument(path_ + ": " + name + " needs a transform and cannot be used in place");
  }
  quant::TypedMatrix m;
  m.rows = out;
  m.cols = in;
  if (t->transform == TensorTransform::kRopePermute) m.row_order = row_orders_[static_cast<size_t>(t - tensors_.data())].data();
  if (gguf_) {
    NS_ASSIGN_OR_RETURN(GgufPart part, gguf_part(*gguf_, *t, {out, in}));
    m.type = part.tensor->traits;
    m.bytes = part.data;
    return m;
  }
  for (const std::string& alt : t->theirs) {
    auto it = hf_->tensors().find(alt);
    if (it == hf_->tensors().end()) continue;
    const SafetensorsFile::Entry& e = *it->second.entry;
    const char* type = e.dtype == DType::kF32 ? "f32" : e.dtype == DType::kF16 ? "f16" : e.dtype == DType::kBF16 ? "bf16" : "";
    m.type = quant::type_traits_by_name(type);
    const int64_t slices = std::max(t->slices, 1);
    if (m.type == nullptr || numel(e.shape) != out * in * slices) {
      return Status::InvalidArgument(path_ + ": " + alt + " (" + dtype_name(e.dtype) + " " + shape_str(e.shape) +
                                     ") cannot be used in place as a (" + std::to_string(out) + ", " +
                                     std::to_string(in) + ") matrix");
    }
    m.bytes = e.data + static_cast<size_t>(t->slice) * static_cast<size_t>(out * in) * m.type->block_bytes;
    return m;
  }
  return Status::NotFound(path_ + ": the checkpoint has no tensor " + t->theirs.front());
}

std::vector<ImportedModel::StoredTensor> ImportedModel::stored_tensors() const {
  std::vector<StoredTensor> out;
  if (gguf_) {
    for (const formats::GgufTensor& t : gguf_->tensors()) {
      out.push_back({t.name, quant::ggml_type_name(t.type), t.shape(), t.bytes});
    }
  } else {
    for (const auto& [name, t] : hf_->tensors()) {
      out.push_back({name, dtype_name(t.entry->dtype), t.entry->shape, t.entry->bytes});
    }
  }
  return out;
}

void ImportedModel::release_resident_pages() const {
  if (hf_) hf_->release_resident_pages();
  if (gguf_) gguf_->release_resident_pages();
  // The f32 buffers of f32_lookup hold the largest tensor read (the embedding): give them back.
  std::vector<float>().swap(buffer_);
  std::vector<float>().swap(staging_);
}

}  // namespace trainer
