// LayerKindInfo: everything the rest of the engine knows about one sub-layer kind (attn, mlp, ssm,
// moe), in one registration row (trainer/layers/registry.cpp): its name in block specs and its config
// table ([attn] ...) with keys and validation, the training Layer (layer.h), the decode step the
// generator runs token by token with its state, its LoRA targets, and what the budget planner needs
// (parameter groups, per-sequence inference state). Config parsing and writing, the generator, the
// LoRA plan and the planner all ask this table; nothing outside a kind's own files switches on it.
//
// Adding a kind K: write trainer/layers/K.cpp (the Layer and the LayerKindInfo `k_K_kind`, its config
// struct goes in ModelConfig) and trainer/layers/K_decode.cpp (its LayerDecoder), add the enum value
// to LayerKind and one row to kKindTable in registry.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/status.h"
#include "trainer/model_config.h"

namespace trainer {

class Layer;
struct LayerShape;

// One key of a kind's config table: its TOML name, its type, and where it lives in a ModelConfig.
enum class ConfigKeyType { kInt, kFloat, kBool };
struct ConfigKey {
  const char* name;
  ConfigKeyType type;
  void* (*field)(ModelConfig& config);  // int*, float* or bool* by type
};

// Returns the fp32 data of a weight by its full name (docs/model.md), or nullptr when absent.
using WeightByName = std::function<const float*(const std::string& name)>;

// Token-by-token inference of one sub-layer instance, carrying its own state (KV cache, conv and scan
// state). step() adds the layer's output for the token at position `pos` to out (D), given its
// normalised input xn (D) — the same contract as Layer::forward with B = T = 1.
class LayerDecoder {
 public:
  virtual ~LayerDecoder() = default;
  virtual void reset() = 0;                       // forget the sequence (zero state)
  virtual std::size_t state_bytes() const = 0;    // per-sequence state held
  virtual void step(float* out, const float* xn, int pos) = 0;
};

// Builds the decoder of the instance whose weights are named `prefix` + "." + local name
// ("blocks.3.attn"). max_context bounds a full-attention KV cache. NotFound names a missing weight.
using DecoderMakeFn = common::Result<std::unique_ptr<LayerDecoder>> (*)(const ModelConfig& config,
                                                                       const WeightByName& weights,
                                                                       const std::string& prefix, int max_context);
using LayerMakeFn = std::unique_ptr<Layer> (*)(const ModelConfig& config, const LayerShape& shape);

// Per-sequence inference state of one instance, for the planner.
struct InferenceState {
  uint64_t kv_values_per_position = 0;  // cached K and V values per position (attention)
  uint64_t max_positions = 0;           // cap on cached positions (sliding window); 0 = the context
  uint64_t recurrent_bytes = 0;         // fixed-size state (fp32 scan state)
  uint64_t conv_bytes = 0;              // fixed-size convolution history (fp32)
};

struct LayerKindInfo {
  LayerKind kind;
  const char* name;                           // in block specs and as the config table's name
  std::span<const ConfigKey> config_keys;     // the keys of the [name] table
  // Checks the kind's fields when the model uses the kind; the message names `source` and the field.
  common::Status (*validate)(const ModelConfig& config, const std::string& source);
  LayerMakeFn make;
  DecoderMakeFn make_decoder;
  std::span<const char* const> lora_targets;          // local linear names ("q", "in_proj", ...)
  std::span<const char* const> default_lora_targets;  // the subset adapted by default
  std::span<const char* const> param_groups;  // the planner's parameter groups, in report order
  // The group of a local weight name ("attention", "moe experts", ...), one of param_groups.
  const char* (*param_group)(const std::string& local_name);
  // The share of a group's parameters that one token uses (routed experts); null = all of them.
  double (*active_fraction)(const ModelConfig& config, const char* group);
  InferenceState (*inference_state)(const ModelConfig& config);
};

// The registered kinds, in LayerKind order.
std::span<const LayerKindInfo> layer_kinds();
// The row of a kind (CHECK: every LayerKind is registered).
const LayerKindInfo& layer_kind_info(LayerKind kind);

}  // namespace trainer
