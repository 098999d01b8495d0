// RunConfig names, defaults and validation.
#include "budget/run_config.h"

#include <algorithm>

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
  return mode == trainer::TrainMode::kQlora ? Precision::kNF4 : Precision::kF32;
}

const std::vector<std::string>& default_lora_targets() {
  static const std::vector<std::string> kTargets = {"q", "k", "v", "o", "gate", "up", "down", "in_proj", "out_proj"};
  return kTargets;
}

const std::vector<std::string>& known_lora_targets() {
  static const std::vector<std::string> kTargets = {"q",       "k",        "v",      "o",       "gate",  "up",
                                                    "down",    "in_proj",  "out_proj", "x_proj", "dt_proj", "router"};
  return kTargets;
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
    for (const std::string& t : r.lora_targets) {
      const auto& known = known_lora_targets();
      if (std::find(known.begin(), known.end(), t) == known.end()) {
        std::string list;
        for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
        return Status::InvalidArgument("unknown LoRA target '" + t + "' (known: " + list + ")");
      }
    }
  }
  if (r.mode == trainer::TrainMode::kQlora && r.base_precision == Precision::kF32) {
    return Status::InvalidArgument("qlora stores the frozen base quantized: choose nf4, nf4-dq, q8 or q4, or use lora");
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
  return s;
}

}  // namespace budget
