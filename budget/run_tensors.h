// The tensor list a plan sums. For a configuration the engine lays out (trainer::list_run_tensors
// succeeds) it is exactly the engine's list, so plan and allocation agree by construction. When the
// engine cannot lay it out yet, the list is derived, and says so: a sub-layer kind without an
// engine layer comes from layout_fallback.h; lora/qlora (not in the engine yet) turn the full list's
// weights into a frozen base stored at the chosen precision, drop its gradients and moments, and add
// adapters (A (r, in), B (out, r)) with their gradients, moments, saved activations and scratch;
// the SGD optimizer drops the moments. Never allocates.
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
  kEngineAdapted,    // the engine's full-mode list with adapters / optimizer applied here
  kFormulas,         // some sub-layer kind listed by layout_fallback.h
};
const char* layout_source_name(LayoutSource s);  // "engine", "engine+adapters", "formulas"

struct RunTensors {
  std::vector<trainer::TensorSpec> specs;
  LayoutSource source = LayoutSource::kEngine;
};

// InvalidArgument for a bad model or run config (see validate_run_config).
common::Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run);

// The forward-only list (weights in fp32 plus the working set) for B sequences of T tokens.
common::Result<RunTensors> list_forward_tensors(const trainer::ModelConfig& config, int batch, int seq_len);

// True for a weight stored as a quantizable matrix: 2-D, named "*.weight", not the SSM conv.
bool is_linear_matrix(const trainer::TensorSpec& weight);

// "q" for "blocks.3.attn.q.weight", "gate" for "blocks.1.moe.experts.2.gate.weight", "" otherwise.
std::string linear_local_name(const std::string& weight_name);

}  // namespace budget
