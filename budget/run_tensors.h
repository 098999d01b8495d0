// The tensor list a plan sums. For a configuration the engine lays out (trainer::list_run_tensors
// succeeds, lora/qlora included) it is exactly the engine's list, so plan and allocation agree by
// construction. When a sub-layer kind has no engine implementation yet, the list comes from
// layout_fallback.h (same assembly, the engine's own lora rewriting) and says so. The SGD
// optimizer (the engine trains with AdamW) drops the moments. Never allocates.
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
  kFormulas,         // some sub-layer kind listed by layout_fallback.h
};
const char* layout_source_name(LayoutSource s);  // "engine", "engine-sgd", "formulas"

struct RunTensors {
  std::vector<trainer::TensorSpec> specs;
  LayoutSource source = LayoutSource::kEngine;
};

// InvalidArgument for a bad model or run config (see validate_run_config).
common::Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run);

// The forward-only list (weights in fp32 plus the working set) for B sequences of T tokens.
common::Result<RunTensors> list_forward_tensors(const trainer::ModelConfig& config, int batch, int seq_len);

// True for a weight stored in a chosen precision for inference: 2-D, named "*.weight", not the SSM
// conv (the embedding and head included, as inference runtimes store them).
bool is_linear_matrix(const trainer::TensorSpec& weight);

}  // namespace budget
