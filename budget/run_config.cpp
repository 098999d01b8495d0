// RunConfig names, defaults and validation.
#include "budget/run_config.h"

#include <algorithm>

#include "trainer/lora/plan.h"

namespace budget {

using common::Result;
using common::Status;

const char* optimizer_name(Optimizer o) { return o == Optimizer::kAdamW ? "adamw" : "sgd"; }

Result<Optimizer> parse_optimizer(std::string_view name) {
  if (name == "adamw") return Optimizer::kAdamW;
  if (name == "sgd") return Optimizer::kSgd;
  return Status::InvalidArgument("unknown optimizer '" + std::string(name) + "' (known: adamw, sgd)");
}

Result<trainer::TrainMode> parse_train_mode(std::string_view name) {
  if (name == "full") return trainer::TrainMode::kFull;
  if (name == "lora") return trainer::TrainMode::kLora;
  if (name == "qlora") return trainer::TrainMode::kQlora;
  return Status::InvalidArgument("unknown training mode '" + std::string(name) + "' (known: full, lora, qlora)");
}

Precision default_base_precision(trainer::TrainMode mode) {
  // qlora: NF4 with double-quantized scales, what `nightshift train --mode qlora` builds by default.
  return mode == trainer::TrainMode::kQlora ? Precision::kNF4DoubleQuant : Precision::kF32;
}

Status validate_run_config(const RunConfig& r) {
  auto range = [](const char* field, int v, int lo, int hi) {
    if (v >= lo && v <= hi) return Status::Ok();
    return Status::InvalidArgument(std::string(field) + " must be between " + std::to_string(lo) + " and " +
                                   std::to_string(hi) + ", got " + std::to_string(v));
  };
  NS_RETURN_IF_ERROR(range("sequence length", r.seq_len, 1, kMaxSeqLen));
  NS_RETURN_IF_ERROR(range("micro-batch", r.micro_batch, 1, kMaxMicroBatch));
  NS_RETURN_IF_ERROR(range("threads", r.threads, 0, kMaxThreads));
  if (r.mode != trainer::TrainMode::kFull) {
    NS_RETURN_IF_ERROR(range("LoRA rank", r.lora_rank, 1, kMaxLoraRank));
    if (r.lora_rank_max != 0) NS_RETURN_IF_ERROR(range("LoRA rank ceiling", r.lora_rank_max, r.lora_rank, kMaxLoraRank));
    const auto& known = trainer::known_lora_targets();
    for (const std::string& t : r.lora_targets) {
      if (std::find(known.begin(), known.end(), t) == known.end()) {
        std::string list;
        for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
        return Status::InvalidArgument("unknown LoRA target '" + t + "' (known: " + list + ")");
      }
    }
    const Precision p = r.base_precision;
    if (r.mapped_base) return Status::Ok();
    if (r.mode == trainer::TrainMode::kLora && p != Precision::kF32 && p != Precision::kF16 && p != Precision::kBF16) {
      return Status::InvalidArgument(std::string("lora keeps a float base (f32, f16, bf16), not ") + precision_name(p) +
                                     "; use --mode qlora for a quantized base");
    }
    if (r.mode == trainer::TrainMode::kQlora && p != Precision::kNF4 && p != Precision::kNF4DoubleQuant &&
        p != Precision::kQ8) {
      return Status::InvalidArgument(std::string("qlora trains on a quantized base (nf4, nf4-dq, q8), not ") +
                                     precision_name(p));
    }
  }
  return Status::Ok();
}

namespace {
// The engine's base storage of each precision it can train on (the one table both directions read).
struct BaseStorage {
  Precision precision;
  trainer::QuantFormat format;
  bool double_quant;
};
constexpr BaseStorage kBaseStorage[] = {
    {Precision::kF32, trainer::QuantFormat::kF32, false},  {Precision::kF16, trainer::QuantFormat::kF16, false},
    {Precision::kBF16, trainer::QuantFormat::kBF16, false}, {Precision::kQ8, trainer::QuantFormat::kQ8, false},
    {Precision::kNF4, trainer::QuantFormat::kNF4, false},  {Precision::kNF4DoubleQuant, trainer::QuantFormat::kNF4, true},
};
}  // namespace

trainer::RunShape run_shape(const RunConfig& r) {
  trainer::RunShape s;
  s.batch = r.micro_batch;
  s.seq_len = r.seq_len;
  s.grad_checkpoint = r.grad_checkpoint;
  s.training = true;
  s.mode = r.mode;
  s.lora_rank = r.mode == trainer::TrainMode::kFull ? 0 : r.lora_rank;
  s.max_threads = r.threads;
  s.head_chunk = trainer::kHeadChunkAuto;  // the LM head fused with its loss: no (B, T, V) logits
  if (r.mode != trainer::TrainMode::kFull) {
    s.lora.rank_max = r.lora_rank_max;
    s.lora.targets = r.lora_targets;
    s.lora.mapped_base = r.mapped_base;
    s.lora.mapped_bytes = r.mapped_base ? r.mapped_base_bytes : 0;
    s.lora.stream_base = r.mapped_base && r.stream_base;
    for (const BaseStorage& b : kBaseStorage) {
      if (b.precision == r.base_precision) {
        s.lora.base_format = b.format;
        s.lora.double_quant = b.double_quant;
      }
    }
  }
  return s;
}

RunConfig run_config_of(const trainer::RunShape& s, Optimizer optimizer) {
  RunConfig r;
  r.mode = s.mode;
  for (const BaseStorage& b : kBaseStorage) {
    if (b.format == s.lora.base_format && b.double_quant == s.lora.double_quant) r.base_precision = b.precision;
  }
  if (s.mode == trainer::TrainMode::kFull) r.base_precision = Precision::kF32;
  r.lora_rank = s.lora_rank > 0 ? s.lora_rank : RunConfig{}.lora_rank;
  r.lora_rank_max = s.lora.rank_max;
  r.lora_targets = s.lora.targets;
  r.mapped_base = s.mode != trainer::TrainMode::kFull && s.lora.mapped_base;
  r.mapped_base_bytes = r.mapped_base ? s.lora.mapped_bytes : 0;
  r.stream_base = r.mapped_base && s.lora.stream_base;
  r.optimizer = optimizer;
  r.micro_batch = s.batch;
  r.seq_len = s.seq_len;
  r.grad_checkpoint = s.grad_checkpoint;
  r.threads = s.max_threads;
  return r;
}

}  // namespace budget
