// fill_frozen_base and the weight lookups (quant_base.h).
#include "trainer/quant/frozen_base.h"

#include <cstring>

#include "common/check.h"

namespace trainer {

using common::Result;
using common::Status;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

}  // namespace

WeightLookup lookup_in_model(const Model& model) {
  return [&model](const std::string& name, const std::vector<int64_t>& shape) -> Result<const float*> {
    const TensorSpec* spec = model.tensors().find_spec(name);
    if (spec == nullptr) return Status::NotFound("no tensor " + name);
    if (spec->dtype != DType::kF32 || spec->shape != shape)
      return Status::InvalidArgument(name + " is " + dtype_name(spec->dtype) + " " + shape_str(spec->shape) +
                                     ", expected F32 " + shape_str(shape));
    return static_cast<const float*>(model.tensors().find(name));
  };
}

WeightLookup lookup_in_safetensors(const SafetensorsFile& file) {
  return [&file](const std::string& name, const std::vector<int64_t>& shape) -> Result<const float*> {
    NS_ASSIGN_OR_RETURN(const SafetensorsFile::Entry* e, file.get(name, DType::kF32, shape));
    return reinterpret_cast<const float*>(e->data);
  };
}

WeightReader reader_of(const WeightLookup& lookup) {
  return [lookup](const std::string& name, const std::vector<int64_t>& shape, float* dst) -> Status {
    NS_ASSIGN_OR_RETURN(const float* src, lookup(name, shape));
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    std::memcpy(dst, src, sizeof(float) * n);
    return Status::Ok();
  };
}

Status fill_weights(Model& model, const WeightReader& read, const std::string& source) {
  for (const ParamRef& p : model.params()) {
    const Status st = read(p.spec->name, p.spec->shape, p.weight);
    if (!st.ok()) return st.with_context(source);
  }
  return Status::Ok();
}

Status fill_weights(Model& model, const WeightLookup& lookup, const std::string& source) {
  return fill_weights(model, reader_of(lookup), source);
}

Status fill_frozen_base(Model& model, const WeightReader& read, const std::string& source, bool skip_linear) {
  const LoraRegistry* lora = model.lora();
  CHECK_MSG(lora != nullptr, "fill_frozen_base needs a lora/qlora model");
  const TensorStore& store = model.tensors();
  const std::vector<TensorSpec>& specs = store.specs();
  std::vector<float> linear;  // one linear weight in fp32 before it is quantized
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec& t = specs[i];
    if (t.role != TensorRole::kFrozenWeight) continue;
    if (t.linear && skip_linear) continue;
    if (t.linear) {
      const LoraBaseEntry* base = lora->find_base(t.name);
      CHECK_MSG(base != nullptr, t.name.c_str());
      linear.resize(static_cast<size_t>(base->layout.rows * base->layout.cols));
      const Status st = read(t.name, {base->layout.rows, base->layout.cols}, linear.data());
      if (!st.ok()) return st.with_context(source);
      quantize_into(base->layout, linear.data(), base->bytes);
    } else {
      CHECK_MSG(t.dtype == DType::kF32, t.name.c_str());
      const Status st = read(t.name, t.shape, static_cast<float*>(store.data(i)));
      if (!st.ok()) return st.with_context(source);
    }
  }
  return Status::Ok();
}

Status fill_frozen_base(Model& model, const WeightLookup& lookup, const std::string& source, bool skip_linear) {
  return fill_frozen_base(model, reader_of(lookup), source, skip_linear);
}

}  // namespace trainer
