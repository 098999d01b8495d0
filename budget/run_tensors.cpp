// list_plan_tensors: the engine's list when it has one, else the fallback list, then adapters.
#include "budget/run_tensors.h"

#include <algorithm>
#include <set>

#include "budget/layout_fallback.h"
#include "trainer/qmatmul_kernels.h"
#include "trainer/quant_format.h"

namespace budget {

using common::Result;
using common::Status;
using trainer::TensorRole;
using trainer::TensorSpec;

namespace {

TensorSpec make_spec(std::string name, std::vector<int64_t> shape, TensorRole role) {
  TensorSpec t;
  t.name = std::move(name);
  t.shape = std::move(shape);
  t.role = role;
  t.bytes = static_cast<uint64_t>(t.numel()) * 4;
  return t;
}

trainer::QuantFormat engine_format(Precision p) {
  switch (p) {
    case Precision::kF16: return trainer::QuantFormat::kF16;
    case Precision::kBF16: return trainer::QuantFormat::kBF16;
    case Precision::kQ8: return trainer::QuantFormat::kQ8;
    case Precision::kNF4:
    case Precision::kNF4DoubleQuant: return trainer::QuantFormat::kNF4;
    default: return trainer::QuantFormat::kF32;
  }
}

// Block index of "blocks.{i}.…", or -1.
int block_of(const std::string& name) {
  if (!name.starts_with("blocks.")) return -1;
  return std::atoi(name.c_str() + 7);
}

// Applies lora/qlora and the optimizer to a full-mode list (see the header).
std::vector<TensorSpec> adapt(const std::vector<TensorSpec>& full, const trainer::ModelConfig& c,
                              const RunConfig& run) {
  const bool adapters = run.mode != trainer::TrainMode::kFull;
  const bool adam = run.optimizer == Optimizer::kAdamW;
  const std::vector<std::string>& targets = run.lora_targets.empty() ? default_lora_targets() : run.lora_targets;
  const int64_t r = run.lora_rank, M = int64_t{run.micro_batch} * run.seq_len;

  std::vector<TensorSpec> weights, grads, moments, acts, scratch;
  std::set<std::string> seen_spec;  // block specs whose adapter activations are listed (checkpointing)
  std::set<int> act_blocks;
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const std::string s = trainer::block_spec_to_string(c.blocks[i]);
    if (!run.grad_checkpoint || seen_spec.insert(s).second) act_blocks.insert(static_cast<int>(i));
  }
  int64_t panel_floats = 0;
  for (const TensorSpec& t : full) {
    switch (t.role) {
      case TensorRole::kWeight:
      case TensorRole::kFrozenWeight: {
        if (!adapters) {
          weights.push_back(t);
          break;
        }
        TensorSpec base = t;
        base.role = TensorRole::kFrozenWeight;
        if (is_linear_matrix(t) && run.base_precision != Precision::kF32) {
          base.bytes = matrix_bytes(run.base_precision, t.shape[0], t.shape[1]);
          base.dtype = trainer::DType::kU8;
          trainer::QuantLayout l{engine_format(run.base_precision), t.shape[0], t.shape[1],
                                 run.base_precision == Precision::kNF4DoubleQuant};
          if (trainer::is_block_quantized(l.format)) {
            panel_floats = std::max<int64_t>(panel_floats, static_cast<int64_t>(trainer::qmatmul_scratch_floats(l)));
          }
        }
        weights.push_back(base);
        const std::string local = linear_local_name(t.name);
        if (local.empty() || std::find(targets.begin(), targets.end(), local) == targets.end()) break;
        const std::string prefix = t.name.substr(0, t.name.size() - 7);  // drop ".weight"
        const int64_t out = t.shape[0], in = t.shape[1];
        TensorSpec a = make_spec(prefix + ".lora_A.weight", {r, in}, TensorRole::kWeight);
        TensorSpec b = make_spec(prefix + ".lora_B.weight", {out, r}, TensorRole::kWeight);
        a.init = trainer::TensorInit::kNormal;
        b.init = trainer::TensorInit::kZeros;
        for (const TensorSpec* w : {&a, &b}) {
          weights.push_back(*w);
          grads.push_back(make_spec("grad." + w->name, w->shape, TensorRole::kGradient));
          if (adam) {
            moments.push_back(make_spec("adam_m." + w->name, w->shape, TensorRole::kOptimizerMoment));
            moments.push_back(make_spec("adam_v." + w->name, w->shape, TensorRole::kOptimizerMoment));
          }
        }
        // x·Aᵀ is saved for dB; an expert sees about M·k/X of the rows.
        if (act_blocks.count(block_of(t.name))) {
          int64_t rows = M;
          if (t.name.find(".moe.experts.") != std::string::npos) {
            rows = (M * c.moe.top_k + c.moe.n_experts - 1) / c.moe.n_experts;
          }
          acts.push_back(make_spec("act.lora." + prefix + ".xa", {rows, r}, TensorRole::kActivation));
        }
        break;
      }
      case TensorRole::kGradient:
        if (!adapters) grads.push_back(t);
        break;
      case TensorRole::kOptimizerMoment:
        if (!adapters && adam) moments.push_back(t);
        break;
      case TensorRole::kActivation: acts.push_back(t); break;
      case TensorRole::kScratch: scratch.push_back(t); break;
    }
  }
  if (adapters) {
    scratch.push_back(make_spec("scratch.lora.dxa", {M, r}, TensorRole::kScratch));
    if (panel_floats > 0) scratch.push_back(make_spec("scratch.qmatmul_panel", {panel_floats}, TensorRole::kScratch));
  }
  std::vector<TensorSpec> out;
  for (auto* part : {&weights, &grads, &moments, &acts, &scratch}) {
    out.insert(out.end(), std::make_move_iterator(part->begin()), std::make_move_iterator(part->end()));
  }
  return out;
}

}  // namespace

const char* layout_source_name(LayoutSource s) {
  switch (s) {
    case LayoutSource::kEngine: return "engine";
    case LayoutSource::kEngineAdapted: return "engine+adapters";
    case LayoutSource::kFormulas: return "formulas";
  }
  return "?";
}

bool is_linear_matrix(const TensorSpec& w) {
  return w.shape.size() == 2 && w.name.ends_with(".weight") && !w.name.ends_with(".conv.weight");
}

std::string linear_local_name(const std::string& name) {
  if (!name.ends_with(".weight")) return "";
  std::string stem = name.substr(0, name.size() - 7);
  size_t dot = stem.rfind('.');
  return dot == std::string::npos ? stem : stem.substr(dot + 1);
}

Result<RunTensors> list_plan_tensors(const trainer::ModelConfig& config, const RunConfig& run) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  trainer::RunShape shape = run_shape(run);
  RunTensors out;
  if (run.optimizer == Optimizer::kAdamW) {
    Result<std::vector<TensorSpec>> engine = trainer::list_run_tensors(config, shape);
    if (engine.ok()) {
      out.specs = std::move(*engine);
      out.source = LayoutSource::kEngine;
      return out;
    }
    if (engine.status().code() != common::StatusCode::kUnavailable) return engine.status();
  }
  // The engine cannot lay this run out: start from its full-mode list, or the fallback's.
  shape.mode = trainer::TrainMode::kFull;
  shape.lora_rank = 0;
  Result<std::vector<TensorSpec>> full = trainer::list_run_tensors(config, shape);
  out.source = LayoutSource::kEngineAdapted;
  if (!full.ok()) {
    if (full.status().code() != common::StatusCode::kUnavailable) return full.status();
    full = list_run_tensors_fallback(config, shape);
    if (!full.ok()) return full.status();
    out.source = LayoutSource::kFormulas;
  }
  out.specs = adapt(*full, config, run);
  for (TensorSpec& t : out.specs) {
    if (t.bytes == 0) t.bytes = static_cast<uint64_t>(t.numel()) * trainer::dtype_size(t.dtype);
  }
  return out;
}

Result<RunTensors> list_forward_tensors(const trainer::ModelConfig& config, int batch, int seq_len) {
  trainer::RunShape shape;
  shape.batch = batch;
  shape.seq_len = seq_len;
  shape.training = false;
  shape.max_threads = 1;
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

}  // namespace budget
