// RunPlan: the layout of a run together with the sub-layer objects that produced it, so that the
// model binds memory by the very names list_run_tensors reported. Engine-internal: other modules use
// list_run_tensors (trainer/layout.h).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "trainer/layers/layer.h"
#include "trainer/layout.h"

namespace trainer {

struct SubLayerPlan {
  int block = 0;                 // i
  LayerKind kind = LayerKind::kAttn;
  bool first_in_block = false;
  bool last_in_block = false;
  std::string norm_weight;       // "blocks.{i}.{kind}_norm.weight"
  std::string norm_rstd;         // activation (B, T)
  std::string norm_out;          // activation (B, T, D): xn, the layer's input
  std::string res_in;            // residual stream before this sub-layer (B, T, D)
  std::string res_out;           // residual stream after it (B, T, D)
  std::vector<std::pair<std::string, std::string>> names;  // layer-local name -> full name
  std::vector<std::pair<std::string, std::string>> grads;  // layer-local weight name -> gradient name
  std::unique_ptr<Layer> layer;
};

struct RunPlan {
  std::vector<TensorSpec> specs;         // exactly what list_run_tensors returns
  std::vector<SubLayerPlan> sublayers;   // in execution order
  std::vector<int> block_begin;          // first sub-layer index of each block, plus the end
  int max_threads = 1;
};

common::Result<RunPlan> make_run_plan(const ModelConfig& config, const RunShape& shape);

}  // namespace trainer
