// What fits: the largest sequence length, micro-batch and LoRA rank a profile's memory allows (and
// whether gradient checkpointing is needed), a recommended configuration that prefers the fastest
// one (no checkpointing when possible, the largest micro-batch up to a useful size), and
// check_fits(), the verdict `nightshift train` acts on (exit 3 with the itemized plan and the nearest
// configuration that fits). Every candidate is a full plan (planner.h); memory grows monotonically
// in sequence length, micro-batch and rank, so the searches double then bisect.
#pragma once

#include <cstdint>
#include <string>

#include "budget/planner.h"
#include "common/status.h"

namespace budget {

constexpr int kFitMaxSeqLen = 65536;
constexpr int kFitMinSeqLen = 16;
constexpr int kFitMaxLoraRank = 1024;
// The recommendation stops growing the micro-batch at this many tokens per micro-batch (GEMMs
// are already efficient; the rest of the effective batch comes from accumulation) or 64 sequences.
constexpr int64_t kFitUsefulTokens = 16384;
constexpr int kFitUsefulMicroBatch = 64;

// One dimension's answer: the largest value that fits without gradient checkpointing and with it
// (0 = none fits).
struct FitLimit {
  int without_checkpoint = 0;
  int with_checkpoint = 0;
  // The value to use: without checkpointing when anything fits that way (faster), else with it.
  int best() const { return without_checkpoint > 0 ? without_checkpoint : with_checkpoint; }
  bool needs_checkpoint() const { return without_checkpoint == 0 && with_checkpoint > 0; }
};

struct FitResult {
  FitLimit max_seq_len;       // power of two <= kFitMaxSeqLen, at the run's micro-batch and rank
  FitLimit max_micro_batch;   // at the run's sequence length and rank
  FitLimit max_lora_rank;     // power of two <= kFitMaxLoraRank, at the run's seq and batch (lora/qlora)
  bool found = false;         // some configuration of this mode fits
  RunConfig recommended;      // valid when found: the run's sequence length and rank if they fit
                              // (no checkpointing preferred), then the largest useful micro-batch
  MemoryPlan recommended_plan;
  std::string why;            // one line: how the recommendation was reached
};

common::Result<FitResult> find_fit(const trainer::ModelConfig& model, const RunConfig& run, uint64_t available_bytes);

// The nearest configuration that fits, changing as little of the training as possible: first a
// smaller micro-batch (the effective batch is kept by gradient accumulation, so training is the
// same), then checkpointing, then a smaller LoRA rank, then a shorter sequence, then (for a full run
// that cannot fit) lora and qlora. NotFound if nothing fits.
common::Result<MemoryPlan> nearest_fit(const trainer::ModelConfig& model, const RunConfig& run,
                                       uint64_t available_bytes);

// Ok when plan.total_bytes <= available_bytes. Otherwise ResourceExhausted whose message is the
// itemized plan, the shortfall and the nearest configuration that fits (as command-line flags).
common::Status check_fits(const MemoryPlan& plan, uint64_t available_bytes);

// "--seq 512 --batch 4 --grad-checkpoint --mode qlora --rank 16": the flags that select `run`.
std::string run_flags(const RunConfig& run);

}  // namespace budget
