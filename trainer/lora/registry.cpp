// LoraRegistry: binding of frozen bases and adapters, adapter init, rank changes (lora_registry.h).
#include "trainer/lora/registry.h"

#include <algorithm>

#include "common/check.h"
#include "trainer/lora/plan.h"
#include "trainer/model.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer {

namespace {

// A per-thread scratch tensor (slots, ...) as listed by lora_adapt_layer_tensors.
ScratchSlots slots(const TensorBinding& b, const std::string& name) {
  const std::vector<int64_t> shape = b.shape(name);
  CHECK(shape.size() >= 2);
  ScratchSlots s;
  s.base = b.f32(name);
  s.count = static_cast<int>(shape[0]);
  s.stride = 1;
  for (size_t i = 1; i < shape.size(); ++i) s.stride *= shape[i];
  return s;
}

}  // namespace

common::Status LoraRegistry::map_base(const std::string& weight_name, const quant::TypedMatrix& m) {
  for (LoraBaseEntry& e : bases_) {
    if (e.name != weight_name) continue;
    if (e.mapped == nullptr) return common::Status::InvalidArgument(weight_name + " is not a mapped base weight");
    if (m.rows != e.mapped->rows || m.cols != e.mapped->cols || m.type == nullptr || m.bytes == nullptr ||
        m.cols % m.type->block_elems != 0)
      return common::Status::InvalidArgument(weight_name + ": the mapped matrix is (" + std::to_string(m.rows) + ", " +
                                             std::to_string(m.cols) + "), the model needs (" +
                                             std::to_string(e.mapped->rows) + ", " + std::to_string(e.mapped->cols) + ")");
    *e.mapped = m;
    return common::Status::Ok();
  }
  return common::Status::InvalidArgument(weight_name + " is not a base weight of this model");
}

LoraRegistry::LoraRegistry(const RunShape& shape)
    : shape_(shape), rank_(shape.lora_rank), rank_max_(lora_rank_capacity(shape)), scale_(lora_scale(shape)) {
  CHECK(shape.mode != TrainMode::kFull);
}

Linear LoraRegistry::bind(const TensorBinding& b, const std::string& full, const std::string& local, int64_t out,
                          int64_t in, void* base_data) {
  CHECK(base_data != nullptr);
  const QuantFormat format = shape_.lora.base_format;
  bases_.push_back({full, QuantLayout{format, out, in, shape_.lora.double_quant}, static_cast<uint8_t*>(base_data)});
  Linear base;
  if (shape_.lora.mapped_base) {
    quant::TypedMatrix& m = mapped_.emplace_back();
    m.rows = out;
    m.cols = in;
    bases_.back().bytes = nullptr;
    bases_.back().mapped = &m;
    base = Linear::mapped(&m, out, in, slots(b, kQmatmulPanelScratch), shape_.lora.compute_dtype);
  } else if (quant_format_type(format).plain_f32) {
    base = Linear::plain(static_cast<const float*>(base_data), nullptr, out, in);  // frozen: no gradient
  } else {
    const QuantLayout layout{format, out, in, shape_.lora.double_quant};
    const QuantView view{layout, static_cast<const uint8_t*>(base_data)};
    const bool panel = quant::weight_matmul_scratch_floats(weight_matrix(view)) > 0;
    base = Linear::quantized(view, panel ? slots(b, kQmatmulPanelScratch) : ScratchSlots{}, shape_.lora.compute_dtype);
  }
  if (!is_lora_target(shape_, local)) return base;
  LoraAdapterEntry e;
  e.name = full.ends_with(".weight") ? full.substr(0, full.size() - 7) : full;
  e.t.in = in;
  e.t.out = out;
  e.t.rank = rank_;
  e.t.rank_max = rank_max_;
  e.t.scale = scale_;
  e.t.a = b.f32(lora_a_name(local));
  e.t.bt = b.f32(lora_bt_name(local));
  e.t.grad_a = b.grad(lora_a_name(local));
  e.t.grad_bt = b.grad(lora_bt_name(local));
  adapters_.push_back(e);
  const ScratchSlots g = shape_.training ? slots(b, kLoraGradScratch) : ScratchSlots{};
  return base.with_adapter(&adapters_.back().t, b.f32(lora_u_name(local)), g);
}

void LoraRegistry::attach_moments(const std::vector<ParamRef>& params) {
  for (LoraAdapterEntry& e : adapters_) {
    for (const ParamRef& p : params) {
      if (p.spec->name == e.name + ".lora_A.weight") {
        e.t.m_a = p.m;
        e.t.v_a = p.v;
      } else if (p.spec->name == e.name + ".lora_Bt.weight") {
        e.t.m_bt = p.m;
        e.t.v_bt = p.v;
      }
    }
  }
}

void LoraRegistry::init_adapters(uint64_t seed) {
  uint64_t i = 0;
  for (LoraAdapterEntry& e : adapters_) {
    e.t.rank = rank_;
    lora_init(e.t, seed * 0x9E3779B97F4A7C15ull + (++i));
  }
}

common::Result<LoraRankReport> LoraRegistry::set_rank(int rank, uint64_t seed) {
  NS_RETURN_IF_ERROR(check_rank(rank));
  LoraRankReport report;
  report.old_rank = rank_;
  report.new_rank = rank;
  uint64_t i = 0;
  for (LoraAdapterEntry& e : adapters_) {
    auto change = lora_set_rank(e.t, rank, seed * 0x9E3779B97F4A7C15ull + (++i));
    CHECK(change.ok());  // validated above
    report.update_norm_sq += change->update_norm_sq;
    report.discarded_sq += change->discarded_sq;
    report.adapters.push_back({e.name, *change});
  }
  rank_ = rank;
  return report;
}

common::Status LoraRegistry::check_rank(int rank) const {
  if (rank < 1 || rank > rank_max_)
    return common::Status::InvalidArgument("LoRA rank " + std::to_string(rank) +
                                           " is out of range: the adapters hold ranks 1 to " + std::to_string(rank_max_));
  for (const LoraAdapterEntry& e : adapters_) NS_RETURN_IF_ERROR(validate_lora_rank(rank, e.t.in, e.t.out, e.name));
  return common::Status::Ok();
}

common::Status LoraRegistry::restore_rank(int rank) {
  NS_RETURN_IF_ERROR(check_rank(rank));
  for (LoraAdapterEntry& e : adapters_) e.t.rank = rank;
  rank_ = rank;
  return common::Status::Ok();
}

const LoraAdapterEntry* LoraRegistry::find(const std::string& name) const {
  for (const LoraAdapterEntry& e : adapters_)
    if (e.name == name) return &e;
  return nullptr;
}

const LoraBaseEntry* LoraRegistry::find_base(const std::string& weight_name) const {
  for (const LoraBaseEntry& e : bases_)
    if (e.name == weight_name) return &e;
  return nullptr;
}

int64_t LoraRegistry::trainable_params() const {
  int64_t n = 0;
  for (const LoraAdapterEntry& e : adapters_) n += static_cast<int64_t>(e.t.rank) * (e.t.in + e.t.out);
  return n;
}

}  // namespace trainer
