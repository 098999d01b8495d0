// The table of sub-layer kinds (trainer/layers/kind.h says how to add one) and the lookups over it.
#include "common/check.h"
#include "trainer/layers/kind.h"
#include "trainer/layers/layer.h"

namespace trainer {

extern const LayerKindInfo kAttnKind, kMlpKind, kSsmKind, kMoeKind, kConvKind,
    kMamba2Kind;  // layers/<kind>_kind.cpp

namespace {
// In LayerKind order.
const LayerKindInfo* const kKindTable[] = {&kAttnKind, &kMlpKind, &kSsmKind, &kMoeKind, &kConvKind, &kMamba2Kind};
}  // namespace

std::span<const LayerKindInfo> layer_kinds() {
  static const std::vector<LayerKindInfo> kinds = [] {
    std::vector<LayerKindInfo> v;
    for (const LayerKindInfo* k : kKindTable) v.push_back(*k);
    for (size_t i = 0; i < v.size(); ++i) CHECK_MSG(static_cast<size_t>(v[i].kind) == i, "kKindTable is out of LayerKind order");
    return v;
  }();
  return kinds;
}

const LayerKindInfo& layer_kind_info(LayerKind kind) {
  const auto kinds = layer_kinds();
  const size_t i = static_cast<size_t>(kind);
  CHECK(i < kinds.size());
  return kinds[i];
}

common::Result<std::unique_ptr<Layer>> make_layer(LayerKind kind, const ModelConfig& config, const LayerShape& shape) {
  return layer_kind_info(kind).make(config, shape);
}

void Layer::init_custom(const std::string& local_name, float* /*data*/, int64_t /*numel*/, Rng& /*rng*/) const {
  CHECK_MSG(false, ("layer lists " + local_name + " with TensorInit::kCustom but has no init_custom").c_str());
}

}  // namespace trainer
