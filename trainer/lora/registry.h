// LoraRegistry: the adapters of one lora/qlora model. The model's tensor binding asks it for each
// linear weight (bind), so it knows every adapted matrix by name and holds the LoraTensors the
// layers' Linear objects point at; rank changes between steps go through it and are reported per
// adapter. Owned by the Model; not thread-safe (the step loop's thread calls it between steps).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/layers/layer.h"
#include "trainer/layout.h"
#include "trainer/lora/adapter.h"
#include "trainer/layers/linear.h"
#include "trainer/quant/table_matmul.h"

namespace trainer {

struct ParamRef;

// One adapted matrix.
struct LoraAdapterEntry {
  std::string name;  // the base weight's prefix, e.g. "blocks.0.attn.q" (PEFT module name)
  LoraTensors t;
};

// One linear weight of the frozen base: where it lives and how it is stored.
struct LoraBaseEntry {
  std::string name;     // full weight name, e.g. "blocks.0.attn.q.weight"
  QuantLayout layout;   // format (the run's base format), rows = Out, cols = In
  uint8_t* bytes = nullptr;  // layout.total_bytes() in the frozen-weight arena (null when mapped)
  quant::TypedMatrix* mapped = nullptr;  // the mapped base's view (LoraSettings::mapped_base), else null

  // The matrix the dequantizing matmul reads: the mapped view, or the arena's bytes in the layout.
  quant::WeightMatrix matrix() const { return mapped != nullptr ? *mapped : weight_matrix(QuantView{layout, bytes}); }
};

// One rank change of one adapter, for the run log.
struct NamedRankChange {
  std::string name;
  LoraRankChange change;
};

// What a set_rank did to the whole model.
struct LoraRankReport {
  int old_rank = 0;
  int new_rank = 0;
  double update_norm_sq = 0.0;  // Σ over adapters of ||scale·B·A||_F² before
  double discarded_sq = 0.0;    // Σ over adapters of the discarded σ² (0 when growing)
  std::vector<NamedRankChange> adapters;
};

class LoraRegistry {
 public:
  explicit LoraRegistry(const RunShape& shape);
  LoraRegistry(const LoraRegistry&) = delete;
  LoraRegistry& operator=(const LoraRegistry&) = delete;

  // The Linear of weight `local` (full name `full`, memory `base_data` of any dtype) of a layer bound
  // through `b`: the frozen base in the run's format, plus an adapter when the matrix is a target.
  Linear bind(const TensorBinding& b, const std::string& full, const std::string& local, int64_t out, int64_t in,
              void* base_data);
  // Points each adapter at its AdamW moments (the model's trainable parameters).
  void attach_moments(const std::vector<ParamRef>& params);
  // A Kaiming-uniform, B zero, moments zero, at the run's initial rank. Deterministic in `seed`.
  void init_adapters(uint64_t seed);

  // Changes every adapter's rank (see lora_set_rank). InvalidArgument, and nothing changed, when
  // `rank` is outside [1, capacity] or above what a matrix allows.
  common::Result<LoraRankReport> set_rank(int rank, uint64_t seed);
  // Sets the active rank without touching the factors (loading a checkpoint whose adapters were
  // saved at that rank). InvalidArgument when out of range.
  common::Status restore_rank(int rank);

  int rank() const { return rank_; }
  int rank_capacity() const { return rank_max_; }
  float scale() const { return scale_; }
  std::deque<LoraAdapterEntry>& adapters() { return adapters_; }
  const std::deque<LoraAdapterEntry>& adapters() const { return adapters_; }
  const LoraAdapterEntry* find(const std::string& name) const;
  // Every linear weight of the base, adapted or not, in binding order.
  const std::vector<LoraBaseEntry>& bases() const { return bases_; }
  const LoraBaseEntry* find_base(const std::string& weight_name) const;
  // Points a mapped base weight (LoraSettings::mapped_base) at its data. InvalidArgument when the
  // weight is not a mapped base or `m` has another shape; the data must outlive the model.
  common::Status map_base(const std::string& weight_name, const quant::TypedMatrix& m);
  int64_t trainable_params() const;  // at the current rank

 private:
  common::Status check_rank(int rank) const;
  RunShape shape_;
  int rank_ = 0;
  int rank_max_ = 0;
  float scale_ = 1.0f;
  std::deque<LoraAdapterEntry> adapters_;  // stable addresses: Linear objects point into it
  std::vector<LoraBaseEntry> bases_;
  std::deque<quant::TypedMatrix> mapped_;  // views of a mapped base (stable addresses for Linear)
};

}  // namespace trainer
