// The tensor list a plan sums: exactly the engine's list (trainer::list_run_tensors, lora/qlora
// included), so plan and allocation agree by construction. The SGD optimizer (the engine trains
// with AdamW) drops the moments. Never allocates.
#pragma once

#include <string>
#include <vector>

#include "budget/run_config.h"
#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/model_config.h"

namespace budget {

enum class LayoutSource {
  kEngine,           // trainer::list_run_tensors, unchanged
  kEngineAdapted,    // the engine's list without optimizer moments (SGD)
};
const char* layout_source_name(LayoutSource s);  // "engine", "engine-sgd"

struct RunTensors {
  std::vector<trainer::TensorSpec> specs;
  LayoutSource source = LayoutSource::kEngine;
};

// InvalidArgument for a bad model or run config (see validate_run_config).
common::Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run);
// The list of exactly this RunShape (what trainer::Model allocates for it), less the moments with SGD.
common::Result<RunTensors> list_shape_tensors(const trainer::ModelConfig& config, const trainer::RunShape& shape,
                                              Optimizer optimizer);

// The forward-only list (weights in fp32 plus the working set) for B sequences of T tokens.
common::Result<RunTensors> list_forward_tensors(const trainer::ModelConfig& config, int batch, int seq_len);

// True for a weight stored in a chosen precision for inference: 2-D, named "*.weight", not the SSM
// conv (the embedding and head included, as inference runtimes store them).
bool is_linear_matrix(const trainer::TensorSpec& weight);

}  // namespace budget
