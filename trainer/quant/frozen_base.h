// Filling the frozen base of a lora/qlora model from fp32 weights: linear weights are converted to
// the run's base format (quantized on the way in, one matrix at a time), everything else is copied.
// The fp32 weights come through a WeightLookup: a full model in memory, or a checkpoint's
// safetensors file. Quantized base files (nightshift quantize) are in quant_file.h.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/model.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

// fp32 data of the weight `name` with exactly `shape`, valid while the source lives; NotFound or
// InvalidArgument naming the tensor otherwise.
using WeightLookup =
    std::function<common::Result<const float*>(const std::string& name, const std::vector<int64_t>& shape)>;

// Writes the fp32 data of `name` with exactly `shape` into `dst` (a tensor's own memory): a source
// that decodes or converts needs no buffer of its own, so a large tensor (an embedding of 152K
// tokens) is never held twice while a model is filled.
using WeightReader =
    std::function<common::Status(const std::string& name, const std::vector<int64_t>& shape, float* dst)>;
WeightReader reader_of(const WeightLookup& lookup);  // copies what `lookup` points to

WeightLookup lookup_in_model(const Model& model);          // its fp32 weights (full mode)
WeightLookup lookup_in_safetensors(const SafetensorsFile& file);  // F32 tensors

// Fills every trainable weight of a full-mode `model` from `lookup` (the start of a full fine-tune).
common::Status fill_weights(Model& model, const WeightReader& read, const std::string& source);
common::Status fill_weights(Model& model, const WeightLookup& lookup, const std::string& source);

// Fills every frozen weight of `model` (lora or qlora) from `lookup`. Adapters are left alone.
// Errors from the lookup name the tensor; `source` prefixes them.
// With `skip_linear` the linear weights are left alone (a mapped base, LoraSettings::mapped_base).
common::Status fill_frozen_base(Model& model, const WeightReader& read, const std::string& source,
                                bool skip_linear = false);
common::Status fill_frozen_base(Model& model, const WeightLookup& lookup, const std::string& source,
                                bool skip_linear = false);

}  // namespace trainer
