// The table of sub-layer kinds and their constructors (see trainer/layers/layer.h for how to add one).
#include "common/check.h"
#include "trainer/layers/layer.h"

namespace trainer {

std::unique_ptr<Layer> make_attn_layer(const ModelConfig& config, const LayerShape& shape);  // layer_attn.cpp
std::unique_ptr<Layer> make_mlp_layer(const ModelConfig& config, const LayerShape& shape);   // layer_mlp.cpp
std::unique_ptr<Layer> make_ssm_layer(const ModelConfig& config, const LayerShape& shape);   // layer_ssm.cpp
std::unique_ptr<Layer> make_moe_layer(const ModelConfig& config, const LayerShape& shape);   // layer_moe.cpp

namespace {
constexpr LayerRegistration kLayerTable[] = {
    {LayerKind::kAttn, make_attn_layer},
    {LayerKind::kMlp, make_mlp_layer},
    {LayerKind::kSsm, make_ssm_layer},
    {LayerKind::kMoe, make_moe_layer},
};
}  // namespace

std::span<const LayerRegistration> layer_registry() { return kLayerTable; }

common::Result<std::unique_ptr<Layer>> make_layer(LayerKind kind, const ModelConfig& config, const LayerShape& shape) {
  for (const LayerRegistration& r : kLayerTable) {
    if (r.kind == kind) return r.make(config, shape);
  }
  return common::Status::Unavailable(std::string("block kind '") + layer_kind_name(kind) +
                                     "' has no implementation in this build");
}

void Layer::init_custom(const std::string& local_name, float* /*data*/, int64_t /*numel*/, Rng& /*rng*/) const {
  CHECK_MSG(false, ("layer lists " + local_name + " with TensorInit::kCustom but has no init_custom").c_str());
}

}  // namespace trainer
