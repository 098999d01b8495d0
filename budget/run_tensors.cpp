// list_plan_tensors: the engine's list when it has one, else the fallback list; SGD drops moments.
#include "budget/run_tensors.h"

#include "budget/layout_fallback.h"

namespace budget {

using common::Result;
using common::Status;
using trainer::TensorRole;
using trainer::TensorSpec;

const char* layout_source_name(LayoutSource s) {
  switch (s) {
    case LayoutSource::kEngine: return "engine";
    case LayoutSource::kEngineAdapted: return "engine-sgd";
    case LayoutSource::kFormulas: return "formulas";
  }
  return "?";
}

bool is_linear_matrix(const TensorSpec& w) {
  return w.shape.size() == 2 && w.name.ends_with(".weight") && !w.name.ends_with(".conv.weight");
}

namespace {

// The engine's list when it can lay the run out, else the fallback's.
Result<RunTensors> list_any(const trainer::ModelConfig& config, const trainer::RunShape& shape) {
  RunTensors out;
  Result<std::vector<TensorSpec>> engine = trainer::list_run_tensors(config, shape);
  if (engine.ok()) {
    out.specs = std::move(*engine);
    out.source = LayoutSource::kEngine;
    return out;
  }
  if (engine.status().code() != common::StatusCode::kUnavailable) return engine.status();
  NS_ASSIGN_OR_RETURN(out.specs, list_run_tensors_fallback(config, shape));
  out.source = LayoutSource::kFormulas;
  return out;
}

}  // namespace

Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  NS_ASSIGN_OR_RETURN(RunTensors out, list_any(config, run_shape(run)));
  if (run.optimizer == Optimizer::kSgd) {
    std::erase_if(out.specs, [](const TensorSpec& t) { return t.role == TensorRole::kOptimizerMoment; });
    if (out.source == LayoutSource::kEngine) out.source = LayoutSource::kEngineAdapted;
  }
  return out;
}

Result<RunTensors> list_forward_tensors(const trainer::ModelConfig& config, int batch, int seq_len) {
  trainer::RunShape shape;
  shape.batch = batch;
  shape.seq_len = seq_len;
  shape.training = false;
  shape.max_threads = 1;
  return list_any(config, shape);
}

}  // namespace budget
