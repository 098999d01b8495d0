// write_base_file_streamed and base_data_bytes (base_stream.h).
#include "trainer/quant/base_stream.h"

#include <map>
#include <vector>

#include "common/check.h"
#include "trainer/layout.h"

namespace trainer {

using common::Result;
using common::Status;

namespace {

// The frozen tensors of a lora/qlora run over a base in info's format (the file's tensors, in its
// order), each with the logical (out, in) shape of a linear weight or its own shape otherwise.
struct StreamLayout {
  std::vector<TensorSpec> frozen;
  std::vector<std::vector<int64_t>> logical;
};

Result<StreamLayout> stream_layout(const BaseInfo& info) {
  RunShape full;
  full.batch = 1;
  full.seq_len = 1;
  full.training = false;
  RunShape adapted = full;
  adapted.mode = mode_for_base_format(info.format);
  adapted.lora_rank = 1;
  adapted.lora.base_format = info.format;
  adapted.lora.double_quant = info.double_quant;
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> full_specs, list_run_tensors(info.config, full));
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const TensorSpec& t : full_specs)
    if (t.role == TensorRole::kWeight) shapes[t.name] = t.shape;
  NS_ASSIGN_OR_RETURN(std::vector<TensorSpec> specs, list_run_tensors(info.config, adapted));
  StreamLayout out;
  for (TensorSpec& t : specs) {
    if (t.role != TensorRole::kFrozenWeight) continue;
    out.logical.push_back(t.linear ? shapes.at(t.name) : t.shape);
    out.frozen.push_back(std::move(t));
  }
  return out;
}

}  // namespace

Result<uint64_t> base_data_bytes(const BaseInfo& info) {
  NS_ASSIGN_OR_RETURN(StreamLayout layout, stream_layout(info));
  uint64_t bytes = 0;
  for (const TensorSpec& t : layout.frozen) bytes += t.bytes;
  return bytes;
}

Status write_base_file_streamed(const std::string& path, const BaseInfo& info, const WeightLookup& weights) {
  NS_ASSIGN_OR_RETURN(StreamLayout layout, stream_layout(info));
  std::vector<TensorRef> refs;
  refs.reserve(layout.frozen.size());
  for (const TensorSpec& t : layout.frozen) refs.push_back(TensorRef{t.name, t.dtype, t.shape, nullptr, t.bytes});
  const bool plain = quant_format_type(info.format).plain_f32;
  std::vector<uint8_t> encoded;  // one linear weight in the base format, reused
  auto produce = [&](size_t i) -> Result<const void*> {
    const TensorSpec& t = layout.frozen[i];
    const std::vector<int64_t>& logical = layout.logical[i];
    auto src = weights(t.name, logical);
    if (!src.ok()) return src.status().with_context(info.source);
    if (!t.linear || plain) return static_cast<const void*>(*src);
    const QuantLayout q{info.format, logical[0], logical[1], info.double_quant};
    CHECK(q.total_bytes() == t.bytes);
    encoded.resize(q.total_bytes());
    quantize_into(q, *src, encoded.data());
    return static_cast<const void*>(encoded.data());
  };
  // The metadata BaseSource::open reads (as write_base_file writes it).
  const std::map<std::string, std::string> metadata{
      {"format", "nightshift-base"},     {"version", "1"},
      {"base_format", quant_format_name(info.format)}, {"double_quant", info.double_quant ? "1" : "0"},
      {"model_toml", info.model_toml},   {"tokenizer", info.tokenizer},
      {"base_id", info.base_id},         {"source", info.source}};
  return write_safetensors_streamed(path, refs, produce, metadata);
}

}  // namespace trainer
