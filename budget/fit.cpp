// Fit searches over sequence length, micro-batch and LoRA rank, and the train-time verdict.
#include "budget/fit.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "budget/report.h"
#include "trainer/lora/plan.h"
#include "common/units.h"

namespace budget {

using common::Result;
using common::Status;

namespace {

// Returns the plan when `run` fits, nullopt when it does not; errors propagate.
Result<std::optional<MemoryPlan>> try_plan(const trainer::ModelConfig& m, const RunConfig& run, uint64_t avail) {
  NS_ASSIGN_OR_RETURN(MemoryPlan p, plan_training(m, run, avail));
  if (p.fits()) return std::optional<MemoryPlan>(std::move(p));
  return std::optional<MemoryPlan>();
}

// Largest v in [lo, hi] with fits(v), assuming monotonicity; 0 if fits(lo) is false.
// `pow2` restricts v to powers of two.
Result<int> largest(int lo, int hi, bool pow2, const std::function<Result<bool>(int)>& fits) {
  NS_ASSIGN_OR_RETURN(bool first, fits(lo));
  if (!first) return 0;
  int good = lo;
  int bad = 0;
  while (good < hi) {  // double
    int next = static_cast<int>(std::min<int64_t>(int64_t{good} * 2, hi));
    NS_ASSIGN_OR_RETURN(bool ok, fits(next));
    if (!ok) {
      bad = next;
      break;
    }
    good = next;
  }
  if (pow2 || bad == 0) return good;
  while (bad - good > 1) {  // bisect
    int mid = good + (bad - good) / 2;
    NS_ASSIGN_OR_RETURN(bool ok, fits(mid));
    (ok ? good : bad) = mid;
  }
  return good;
}

Result<bool> fits(const trainer::ModelConfig& m, const RunConfig& run, uint64_t avail) {
  NS_ASSIGN_OR_RETURN(MemoryPlan p, plan_training(m, run, avail));
  return p.fits();
}

// The largest value of one field, without and with checkpointing.
Result<FitLimit> limit(const trainer::ModelConfig& m, const RunConfig& base, uint64_t avail, int lo, int hi,
                       bool pow2, int RunConfig::*field) {
  FitLimit out;
  for (bool ckpt : {false, true}) {
    RunConfig r = base;
    r.grad_checkpoint = ckpt;
    NS_ASSIGN_OR_RETURN(int v, largest(lo, hi, pow2, [&](int x) {
                          RunConfig c = r;
                          c.*field = x;
                          return fits(m, c, avail);
                        }));
    (ckpt ? out.with_checkpoint : out.without_checkpoint) = v;
  }
  return out;
}

// The largest useful micro-batch for `r` (which fits at micro-batch 1).
Result<RunConfig> grow_batch(const trainer::ModelConfig& m, RunConfig r, uint64_t avail, int* cap_out) {
  const int cap = static_cast<int>(std::clamp<int64_t>(kFitUsefulTokens / r.seq_len, 1, kFitUsefulMicroBatch));
  NS_ASSIGN_OR_RETURN(int b, largest(1, cap, false, [&](int x) {
                        RunConfig c = r;
                        c.micro_batch = x;
                        return fits(m, c, avail);
                      }));
  r.micro_batch = std::max(b, 1);
  *cap_out = cap;
  return r;
}

// The largest rank every targeted matrix allows (min(out, in) over the targets).
Result<int> rank_ceiling(const trainer::ModelConfig& m, const RunConfig& run) {
  NS_ASSIGN_OR_RETURN(RunTensors fwd, list_forward_tensors(m, 1, 1));
  const trainer::RunShape shape = run_shape(run);
  int64_t ceiling = kFitMaxLoraRank;
  for (const trainer::TensorSpec& t : fwd.specs) {
    if (!t.linear || t.shape.size() != 2 || !trainer::is_lora_target(shape, t.name)) continue;
    ceiling = std::min({ceiling, t.shape[0], t.shape[1]});
  }
  return static_cast<int>(ceiling);
}

}  // namespace

std::string run_flags(const RunConfig& run) {
  std::string s = "--mode " + std::string(trainer::train_mode_name(run.mode));
  if (run.mode != trainer::TrainMode::kFull) s += " --rank " + std::to_string(run.lora_rank);
  s += " --seq " + std::to_string(run.seq_len) + " --batch " + std::to_string(run.micro_batch);
  if (run.grad_checkpoint) s += " --grad-checkpoint";
  return s;
}

Result<FitResult> find_fit(const trainer::ModelConfig& m, const RunConfig& run, uint64_t avail) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  FitResult out;
  const bool adapters = run.mode != trainer::TrainMode::kFull;
  NS_ASSIGN_OR_RETURN(out.max_seq_len, limit(m, run, avail, kFitMinSeqLen, kFitMaxSeqLen, true, &RunConfig::seq_len));
  NS_ASSIGN_OR_RETURN(out.max_micro_batch, limit(m, run, avail, 1, kMaxMicroBatch, false, &RunConfig::micro_batch));
  int ceiling = kFitMaxLoraRank;
  if (adapters) {
    NS_ASSIGN_OR_RETURN(ceiling, rank_ceiling(m, run));
    NS_ASSIGN_OR_RETURN(out.max_lora_rank, limit(m, run, avail, 1, ceiling, true, &RunConfig::lora_rank));
  }

  // Recommendation: keep the sequence length and rank (they change what is trained), prefer no
  // checkpointing, then the largest useful micro-batch; shrink the rank, then the sequence, only
  // when nothing else fits.
  RunConfig rec = run;
  rec.micro_batch = 1;
  for (;;) {
    for (int pass = 0; pass < (adapters ? 2 : 1); ++pass) {
      for (bool ckpt : {false, true}) {
        RunConfig r = rec;
        r.grad_checkpoint = ckpt;
        if (pass == 1) {  // the largest power-of-two rank below the requested one
          NS_ASSIGN_OR_RETURN(int rank, largest(1, run.lora_rank, true, [&](int x) {
                                RunConfig c = r;
                                c.lora_rank = x;
                                return fits(m, c, avail);
                              }));
          if (rank == 0) continue;
          r.lora_rank = rank;
        }
        NS_ASSIGN_OR_RETURN(bool ok, fits(m, r, avail));
        if (!ok) continue;
        int cap = 0;
        NS_ASSIGN_OR_RETURN(r, grow_batch(m, r, avail, &cap));
        NS_ASSIGN_OR_RETURN(out.recommended_plan, plan_training(m, r, avail));
        out.recommended = r;
        out.found = true;
        out.why = std::string(r.seq_len == run.seq_len ? "keeps the sequence length" : "shortens the sequence") +
                  (adapters ? (r.lora_rank == run.lora_rank ? " and the rank" : "; lowers the rank") : "") +
                  (ckpt ? "; needs gradient checkpointing" : "; no checkpointing needed") + "; micro-batch " +
                  std::to_string(r.micro_batch) + " (useful up to " + std::to_string(cap) + ")";
        return out;
      }
    }
    if (rec.seq_len <= kFitMinSeqLen) break;
    rec.seq_len = std::max(kFitMinSeqLen, rec.seq_len / 2);
  }
  out.why = "nothing fits, even " + std::to_string(kFitMinSeqLen) + " tokens at micro-batch 1 with checkpointing";
  return out;
}

Result<MemoryPlan> nearest_fit(const trainer::ModelConfig& m, const RunConfig& run, uint64_t avail) {
  NS_RETURN_IF_ERROR(validate_run_config(run));
  const bool adapters = run.mode != trainer::TrainMode::kFull;
  // 1-2. A smaller micro-batch (same training through accumulation), without then with checkpointing.
  for (bool ckpt : {run.grad_checkpoint, true}) {
    RunConfig r = run;
    r.grad_checkpoint = ckpt;
    NS_ASSIGN_OR_RETURN(int b, largest(1, run.micro_batch, false, [&](int x) {
                          RunConfig c = r;
                          c.micro_batch = x;
                          return fits(m, c, avail);
                        }));
    if (b > 0) {
      r.micro_batch = b;
      return plan_training(m, r, avail);
    }
  }
  // 3. A smaller rank, 4. a shorter sequence (micro-batch 1, checkpointing).
  RunConfig r = run;
  r.micro_batch = 1;
  r.grad_checkpoint = true;
  for (; r.seq_len >= 1; r.seq_len /= 2) {
    if (adapters) {
      NS_ASSIGN_OR_RETURN(int rank, largest(1, run.lora_rank, true, [&](int x) {
                            RunConfig c = r;
                            c.lora_rank = x;
                            return fits(m, c, avail);
                          }));
      if (rank > 0) {
        r.lora_rank = rank;
        return plan_training(m, r, avail);
      }
    } else {
      NS_ASSIGN_OR_RETURN(std::optional<MemoryPlan> p, try_plan(m, r, avail));
      if (p) return std::move(*p);
    }
    if (r.seq_len == 1 || r.seq_len <= kFitMinSeqLen) break;
  }
  // 5. A full run that cannot fit: adapters on a frozen base.
  if (!adapters) {
    for (trainer::TrainMode mode : {trainer::TrainMode::kLora, trainer::TrainMode::kQlora}) {
      RunConfig a = run;
      a.mode = mode;
      a.base_precision = default_base_precision(mode);
      Result<MemoryPlan> p = nearest_fit(m, a, avail);
      if (p.ok()) return p;
      if (p.status().code() != common::StatusCode::kNotFound) return p.status();
    }
  }
  return Status::NotFound("no configuration of this model fits in " + common::format_bytes(avail));
}

Status check_fits(const MemoryPlan& plan, uint64_t available_bytes) {
  if (plan.total_bytes <= available_bytes) return Status::Ok();
  std::string msg = "the run needs " + common::format_bytes(plan.total_bytes) + " but only " +
                    common::format_bytes(available_bytes) + " is available (short by " +
                    common::format_bytes(plan.total_bytes - available_bytes) + ")\n";
  MemoryPlan shown = plan;
  shown.available_bytes = available_bytes;
  msg += render_plan_table(shown);
  Result<MemoryPlan> near = nearest_fit(plan.model, plan.run, available_bytes);
  if (near.ok()) {
    msg += "nearest configuration that fits: " + run_flags(near->run) + " (" +
           common::format_bytes(near->total_bytes) + ")";
    if (near->run.mode == plan.run.mode && near->run.seq_len == plan.run.seq_len &&
        near->run.lora_rank == plan.run.lora_rank && near->run.micro_batch < plan.run.micro_batch) {
      msg += "; accumulate " + std::to_string((plan.run.micro_batch + near->run.micro_batch - 1) / near->run.micro_batch) +
             " micro-batches to keep the effective batch";
    }
  } else {
    msg += "nothing fits: " + near.status().message();
  }
  return Status::ResourceExhausted(msg);
}

}  // namespace budget
