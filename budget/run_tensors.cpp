// list_plan_tensors: the engine's own tensor list for the run (so plan = allocation); SGD drops moments.
#include "budget/run_tensors.h"


namespace budget {

using common::Result;
using common::Status;
using trainer::TensorRole;
using trainer::TensorSpec;

const char* layout_source_name(LayoutSource s) {
  switch (s) {
    case LayoutSource::kEngine: return "engine";
    case LayoutSource::kEngineAdapted: return "engine-sgd";
  }
  return "?";
}

bool is_linear_matrix(const TensorSpec& w) {
  // Not a matrix although two-dimensional: a causal conv's taps, and mamba2's grouped RMSNorm scale
  // ([groups, d_inner / groups]), which stay in f32 like every norm.
  return w.shape.size() == 2 && w.name.ends_with(".weight") && !w.name.ends_with(".conv.weight") &&
         !w.name.ends_with("norm.weight");
}

namespace {

Result<RunTensors> list_any(const trainer::ModelConfig& config, const trainer::RunShape& shape) {
  RunTensors out;
  NS_ASSIGN_OR_RETURN(out.specs, trainer::list_run_tensors(config, shape));
  out.source = LayoutSource::kEngine;
  return out;
}

}  // namespace

Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  return list_shape_tensors(config, run_shape(run), run.optimizer);
}

Result<RunTensors> list_shape_tensors(const trainer::ModelConfig& config, const trainer::RunShape& shape,
                                      Optimizer optimizer) {
  NS_ASSIGN_OR_RETURN(RunTensors out, list_any(config, shape));
  if (optimizer == Optimizer::kSgd) {
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
