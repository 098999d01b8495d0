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

trainer::RunShape run_shape(const RunConfig& r) {
  trainer::RunShape s;
  s.batch = r.micro_batch;
  s.seq_len = r.seq_len;
  s.grad_checkpoint = r.grad_checkpoint;
  s.training = true;
  s.mode = r.mode;
  s.lora_rank = r.mode == trainer::TrainMode::kFull ? 0 : r.lora_rank;
  s.max_threads = r.threads;
  if (r.mode != trainer::TrainMode::kFull) {
    s.lora.rank_max = r.lora_rank_max;
    s.lora.targets = r.lora_targets;
    switch (r.base_precision) {
      case Precision::kF16: s.lora.base_format = trainer::QuantFormat::kF16; break;
      case Precision::kBF16: s.lora.base_format = trainer::QuantFormat::kBF16; break;
      case Precision::kQ8: s.lora.base_format = trainer::QuantFormat::kQ8; break;
      case Precision::kNF4: s.lora.base_format = trainer::QuantFormat::kNF4; break;
      case Precision::kNF4DoubleQuant:
        s.lora.base_format = trainer::QuantFormat::kNF4;
        s.lora.double_quant = true;
        break;
      default: s.lora.base_format = trainer::QuantFormat::kF32; break;
    }
  }
  return s;
}

}  // namespace budget
