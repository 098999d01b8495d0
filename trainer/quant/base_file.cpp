// BaseSource (base files and full checkpoints) and write_base_file (quant_file.h).
#include "trainer/quant/base_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/check.h"
#include "trainer/formats/checksum.h"
#include "trainer/layout.h"
#include "trainer/model_config_toml.h"
#include "trainer/quant/base_stream.h"
#include "trainer/quant/weight_types.h"

namespace trainer {

namespace fs = std::filesystem;
using common::Result;
using common::Status;

namespace {

// Copies `bytes` of a mapped file into `dst` a slice at a time and releases each slice's file pages
// once copied, so that a large tensor is never resident twice while a model is filled.
void copy_releasing(const SafetensorsFile& file, const uint8_t* src, void* dst, size_t bytes) {
  constexpr size_t kSlice = size_t{16} << 20;
  for (size_t off = 0; off < bytes; off += kSlice) {
    const size_t n = std::min(kSlice, bytes - off);
    std::memcpy(static_cast<uint8_t*>(dst) + off, src + off, n);
    file.release_resident_pages(src + off, n);
  }
}

constexpr const char* kBaseFormat = "nightshift-base";
constexpr const char* kBaseVersion = "1";

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

std::string meta(const SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  return it == f.metadata().end() ? "" : it->second;
}

}  // namespace

TrainMode mode_for_base_format(QuantFormat format) {
  return is_block_quantized(format) ? TrainMode::kQlora : TrainMode::kLora;
}

BaseSource::~BaseSource() = default;

Result<std::unique_ptr<BaseSource>> BaseSource::open(const std::string& path) {
  std::unique_ptr<BaseSource> b(new BaseSource());
  std::error_code ec;
  if (ImportedModel::is_importable(path)) {
    NS_ASSIGN_OR_RETURN(b->imported_, ImportedModel::open(path));
    const ImportedModel& m = *b->imported_;
    b->info_.format = QuantFormat::kF32;
    b->info_.config = m.config();
    b->info_.model_toml = model_config_to_toml(m.config());
    b->info_.tokenizer = m.tokenizer_spec();
    b->info_.base_id = m.identity();
    b->info_.source = path;
    return b;
  }
  if (fs::is_directory(path, ec)) {
    CheckpointInfo ck;
    if (has_checkpoint(path)) {
      NS_ASSIGN_OR_RETURN(ck, read_latest_checkpoint(path));
    } else if (fs::exists(fs::path(path) / "state.json", ec)) {
      NS_ASSIGN_OR_RETURN(ck, read_checkpoint_dir(path));
    } else {
      return Status::NotFound(path + ": neither a base file nor a checkpoint (no checkpoints/latest, no state.json)");
    }
    if (ck.shape.mode != TrainMode::kFull)
      return Status::InvalidArgument(path + ": a " + train_mode_name(ck.shape.mode) +
                                     " checkpoint is not a plain model; export its adapter and merge it first");
    const std::string weights = ck.dir + "/model.safetensors";
    auto state = common::read_file(ck.dir + "/state.json");
    if (!state.ok()) return state.status();
    const auto j = nlohmann::json::parse(*state, nullptr, false);
    nlohmann::json listed;
    if (j.is_object() && j.contains("files") && j["files"].contains("model.safetensors")) listed = j["files"]["model.safetensors"];
    NS_ASSIGN_OR_RETURN(FileSums sums, file_sums(weights));
    // The checksum state.json records (CRC-32, or FNV-1a 64 in older checkpoints) must match.
    const bool intact = listed.is_object() && (listed.contains("crc32") ? listed.value("crc32", "") == hex32(sums.crc32)
                                                                        : listed.value("fnv1a64", "") == hex64(sums.fnv1a64));
    if (!intact) return Status::Corruption(weights + ": checksum mismatch with state.json (the file is damaged)");
    // The base's identity is the FNV-1a 64 of its weights, whatever checksum the manifest uses.
    const std::string expected = hex64(sums.fnv1a64);
    NS_ASSIGN_OR_RETURN(b->file_, SafetensorsFile::open(weights));
    NS_ASSIGN_OR_RETURN(b->info_.config, parse_model_config_toml(ck.model_toml, ck.dir + "/state.json"));
    b->info_.format = QuantFormat::kF32;
    b->info_.model_toml = ck.model_toml;
    b->info_.tokenizer = ck.tokenizer_spec;
    b->info_.base_id = expected;
    b->info_.source = ck.dir;
    b->checkpoint_ = std::make_unique<CheckpointInfo>(std::move(ck));
    return b;
  }
  NS_ASSIGN_OR_RETURN(b->file_, SafetensorsFile::open(path));
  const SafetensorsFile& f = *b->file_;
  if (meta(f, "format") != kBaseFormat)
    return Status::InvalidArgument(path + ": not a nightshift base file (make one with nightshift quantize)");
  if (meta(f, "version") != kBaseVersion)
    return Status::InvalidArgument(path + ": unsupported base file version '" + meta(f, "version") + "'");
  auto format = parse_quant_format(meta(f, "base_format"));
  if (!format.ok()) return format.status().with_context(path);
  b->info_.format = *format;
  b->info_.double_quant = meta(f, "double_quant") == "1";
  b->info_.model_toml = meta(f, "model_toml");
  NS_ASSIGN_OR_RETURN(b->info_.config, parse_model_config_toml(b->info_.model_toml, path + " (model_toml)"));
  b->info_.tokenizer = meta(f, "tokenizer");
  b->info_.base_id = meta(f, "base_id");
  b->info_.source = meta(f, "source");
  return b;
}

Status BaseSource::fill(Model& model) const {
  CHECK_MSG(model.lora() != nullptr, "BaseSource::fill needs a lora/qlora model");
  if (imported_) {
    if (!model.shape().lora.mapped_base) return fill_frozen_base(model, imported_->f32_reader(), imported_->path());
    NS_RETURN_IF_ERROR(map_into(model));
    return fill_frozen_base(model, imported_->f32_reader(), imported_->path(), /*skip_linear=*/true);
  }
  const std::string& path = file_->path();
  // The file's pages of each tensor are released slice by slice as it is copied into the model, so
  // loading never holds a tensor twice (the file's copy and the model's), not even the embedding.
  if (checkpoint_) {
    const WeightReader releasing = [this](const std::string& name, const std::vector<int64_t>& shape, float* dst) -> Status {
      NS_ASSIGN_OR_RETURN(const SafetensorsFile::Entry* e, file_->get(name, DType::kF32, shape));
      copy_releasing(*file_, e->data, dst, e->bytes);
      return Status::Ok();
    };
    return fill_frozen_base(model, releasing, path);
  }
  const LoraSettings& want = model.shape().lora;
  if (want.base_format != info_.format || (want.double_quant != info_.double_quant && quant_format_type(info_.format).double_quant))
    return Status::InvalidArgument(path + ": the base is stored as " + quant_format_name(info_.format) +
                                   (info_.double_quant ? " (double quantized)" : "") + " but the run needs " +
                                   quant_format_name(want.base_format) + (want.double_quant ? " (double quantized)" : "") +
                                   "; quantize the source checkpoint to that format");
  const TensorStore& store = model.tensors();
  for (size_t i = 0; i < store.specs().size(); ++i) {
    const TensorSpec& t = store.specs()[i];
    if (t.role != TensorRole::kFrozenWeight) continue;
    auto e = file_->get(t.name, t.dtype, t.shape);
    if (!e.ok()) return e.status().with_context(path);
    copy_releasing(*file_, (*e)->data, store.data(i), t.bytes);
  }
  return Status::Ok();
}

Status BaseSource::map_into(Model& model) const {
  CHECK_MSG(model.lora() != nullptr && model.shape().lora.mapped_base, "BaseSource::map_into needs a mapped lora base");
  if (!imported_) return Status::InvalidArgument(info_.source + ": only a GGUF file or a Hugging Face directory can stay mapped");
  if (encoding_ != nullptr) {
    encoded_.clear();
    const WeightLookup lookup = imported_->f32_lookup();
    for (const LoraBaseEntry& e : model.lora()->bases()) {
      const int64_t rows = e.mapped->rows, cols = e.mapped->cols;
      const quant::TypeTraits* type = quant::encoding_for_cols(encoding_, cols);
      if (cols % type->block_elems != 0)
        return Status::InvalidArgument(e.name + ": rows of " + std::to_string(cols) + " values cannot be encoded as " +
                                       type->name);
      NS_ASSIGN_OR_RETURN(const float* src, lookup(e.name, {rows, cols}));
      std::vector<uint8_t>& bytes = encoded_.emplace_back(static_cast<size_t>(rows) * quant::row_bytes(*type, cols));
      const size_t stride = quant::row_bytes(*type, cols);
#pragma omp parallel for schedule(static)
      for (int64_t r = 0; r < rows; ++r) type->encode_row(src + r * cols, bytes.data() + static_cast<size_t>(r) * stride, cols);
      quant::TypedMatrix m{type, rows, cols, bytes.data(), nullptr};
      NS_RETURN_IF_ERROR(model.lora()->map_base(e.name, m).with_context(imported_->path()));
    }
    return Status::Ok();
  }
  for (const LoraBaseEntry& e : model.lora()->bases()) {
    NS_ASSIGN_OR_RETURN(quant::TypedMatrix m, imported_->typed(e.name, e.mapped->rows, e.mapped->cols));
    NS_RETURN_IF_ERROR(model.lora()->map_base(e.name, m).with_context(imported_->path()));
  }
  return Status::Ok();
}

Result<uint64_t> BaseSource::mapped_bytes(const ModelConfig& config) const {
  if (!imported_) return Status::InvalidArgument(info_.source + ": only a GGUF file or a Hugging Face directory can stay mapped");
  return imported_->mapped_linear_bytes(config, encoding_);
}

Status BaseSource::encode_on_load(const std::string& type_name) {
  if (!imported_) return Status::InvalidArgument(info_.source + ": only an imported model is encoded on load");
  encoding_ = quant::type_traits_by_name(type_name);
  if (encoding_ == nullptr || encoding_->block_elems == 1)
    return Status::InvalidArgument("unknown block type '" + type_name + "' to encode a base into");
  return Status::Ok();
}

Status BaseSource::fill_full(Model& model) const {
  CHECK_MSG(model.lora() == nullptr, "BaseSource::fill_full needs a full-mode model");
  if (!converts_on_load())
    return Status::InvalidArgument(file_->path() + ": a base file holds a frozen base for lora/qlora; a full fine-tune "
                                   "starts from the checkpoint or model it came from");
  if (imported_) return fill_weights(model, imported_->f32_reader(), imported_->path());
  return fill_weights(model, f32_lookup(), file_->path());
}

void BaseSource::release_resident_pages() const {
  if (imported_) {
    imported_->release_resident_pages();
    return;
  }
  file_->release_resident_pages();
  std::vector<float>().swap(buffer_);
}

WeightLookup BaseSource::f32_lookup() const {
  if (imported_) return imported_->f32_lookup();
  if (checkpoint_) return lookup_in_safetensors(*file_);
  return [this](const std::string& name, const std::vector<int64_t>& shape) -> Result<const float*> {
    const auto& tensors = file_->tensors();
    auto it = tensors.find(name);
    if (it == tensors.end()) return Status::NotFound(file_->path() + ": no tensor " + name);
    const SafetensorsFile::Entry& e = it->second;
    if (e.dtype == DType::kF32) {
      if (e.shape != shape)
        return Status::InvalidArgument(file_->path() + ": " + name + " has shape " + shape_str(e.shape) +
                                       ", expected " + shape_str(shape));
      return reinterpret_cast<const float*>(e.data);
    }
    if (shape.size() != 2) return Status::InvalidArgument(file_->path() + ": " + name + " is not a matrix");
    const QuantLayout layout{info_.format, shape[0], shape[1], info_.double_quant};
    if (e.bytes != layout.total_bytes())
      return Status::InvalidArgument(file_->path() + ": " + name + " holds " + std::to_string(e.bytes) + " bytes, a " +
                                     quant_format_name(info_.format) + " " + shape_str(shape) + " matrix needs " +
                                     std::to_string(layout.total_bytes()));
    buffer_.resize(static_cast<size_t>(layout.n()));
    dequantize(QuantView{layout, e.data}, buffer_.data());
    return buffer_.data();
  };
}

Status write_base_file(const std::string& path, const BaseInfo& info, const WeightLookup& weights) {
  // Tensor by tensor: each weight is asked of the lookup, encoded and written before the next, so a
  // lookup that reuses one buffer (an imported model's) is read correctly and the model is never
  // held encoded in memory.
  return write_base_file_streamed(path, info, weights);
}

}  // namespace trainer
