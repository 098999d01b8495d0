// Fitting a run to its memory budget before it starts (`train --grad-checkpoint auto`, the default):
// when the planner's total for the run as asked exceeds the budget, the planner's own numbers pick
// gradient checkpointing and the micro-batch / accumulation split that fit, without changing what
// is trained (the effective batch, micro-batch × accumulation, stays as asked). A resumed run keeps
// the split it started with. The choice is printed and goes into the run's config in the run log.
#pragma once

#include <cstdint>
#include <string>

#include "app/train/run_config.h"
#include "common/status.h"

namespace app {

enum class GradCheckpoint { kAuto, kOn, kOff };

// "auto", "on" (also "" for a bare --grad-checkpoint), "off". InvalidArgument naming the flag otherwise.
common::Result<GradCheckpoint> parse_grad_checkpoint(const std::string& text);

// Tokens per micro-batch below which a smaller micro-batch costs more speed than checkpointing does
// (small matrix products): such splits are tried only after checkpointing.
constexpr int64_t kEfficientMicroBatchTokens = 256;

// When c's plan does not fit `budget_bytes`, sets c->shape.batch, c->train.accum and (unless
// `checkpoint` is kOn or kOff) c->shape.grad_checkpoint to the first of these that fits:
//   1. no checkpointing, a smaller micro-batch that divides the asked one, of at least
//      kEfficientMicroBatchTokens tokens (largest first);
//   2. checkpointing at the asked micro-batch, then at smaller ones;
//   3. no checkpointing with the remaining smaller micro-batches.
// kOn keeps checkpointing on and kOff off throughout. Returns the line that says what was chosen
// and why ("" when the run fits as asked, or when nothing fits: then the refusal reports it).
common::Result<std::string> fit_run_to_budget(RunConfig* c, GradCheckpoint checkpoint, uint64_t budget_bytes);

// On resume: when the run directory's latest checkpoint trained the same effective batch and
// sequence, c takes its micro-batch, accumulation and checkpointing (chosen when it started; the
// budget may differ tonight). Returns true when c was changed. A missing or damaged checkpoint is
// left to the resume check.
bool keep_stored_split(RunConfig* c, GradCheckpoint checkpoint);

}  // namespace app
