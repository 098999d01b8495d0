// The start-time memory fit of a training run (memory_fit.h): candidates in order of speed, each a
// full plan of the very RunShape the run would build.
#include "app/train/memory_fit.h"

#include <fmt/format.h>

#include <vector>

#include "budget/planner.h"
#include "common/units.h"
#include "trainer/formats/checkpoint.h"

namespace app {

using common::Result;
using common::Status;

namespace {

struct Candidate {
  int micro_batch;
  bool checkpoint;
};

// The candidates of memory_fit.h's order for a run that asked for micro-batch `batch` of `seq` tokens.
std::vector<Candidate> candidates(int batch, int seq, GradCheckpoint mode) {
  std::vector<int> divisors;  // largest first, the asked micro-batch included
  for (int d = batch; d >= 1; --d) {
    if (batch % d == 0) divisors.push_back(d);
  }
  const auto efficient = [&](int d) { return static_cast<int64_t>(d) * seq >= kEfficientMicroBatchTokens; };
  std::vector<Candidate> out;
  if (mode == GradCheckpoint::kOn) {
    for (int d : divisors) out.push_back({d, true});
    return out;
  }
  for (int d : divisors) {
    if (d == batch || efficient(d)) out.push_back({d, false});
  }
  if (mode == GradCheckpoint::kAuto) {
    for (int d : divisors) out.push_back({d, true});
  }
  for (int d : divisors) {
    if (d != batch && !efficient(d)) out.push_back({d, false});
  }
  return out;
}

Result<uint64_t> planned_bytes(const RunConfig& c, const Candidate& k) {
  trainer::RunShape shape = c.shape;
  shape.batch = k.micro_batch;
  shape.grad_checkpoint = k.checkpoint;
  NS_ASSIGN_OR_RETURN(budget::MemoryPlan plan, budget::plan_training(c.model, shape, budget::Optimizer::kAdamW, 0));
  return plan.total_bytes;
}

}  // namespace

Result<GradCheckpoint> parse_grad_checkpoint(const std::string& text) {
  if (text == "auto") return GradCheckpoint::kAuto;
  if (text == "on" || text.empty()) return GradCheckpoint::kOn;
  if (text == "off") return GradCheckpoint::kOff;
  return Status::InvalidArgument("--grad-checkpoint: '" + text + "' (expected auto, on or off)");
}

Result<std::string> fit_run_to_budget(RunConfig* c, GradCheckpoint checkpoint, uint64_t budget_bytes) {
  if (checkpoint != GradCheckpoint::kAuto) c->shape.grad_checkpoint = checkpoint == GradCheckpoint::kOn;
  const Candidate asked{c->shape.batch, c->shape.grad_checkpoint};
  // A run the planner cannot cover is left as asked: the memory check refuses it (exit 3) or,
  // with --no-memory-check, trains it with a warning.
  Result<uint64_t> asked_bytes = planned_bytes(*c, asked);
  if (!asked_bytes.ok() || *asked_bytes <= budget_bytes) return std::string();
  for (const Candidate& k : candidates(c->shape.batch, c->shape.seq_len, checkpoint)) {
    Result<uint64_t> planned = planned_bytes(*c, k);
    if (!planned.ok() || *planned > budget_bytes) continue;
    const uint64_t bytes = *planned;
    const int accum = c->train.accum * (c->shape.batch / k.micro_batch);
    std::string line = fmt::format(
        "memory: the run as asked plans {} of a {} budget; training with micro-batch {} x accumulation {} "
        "(effective batch {} as asked){}: {}",
        common::format_bytes(*asked_bytes), common::format_bytes(budget_bytes), k.micro_batch, accum,
        k.micro_batch * accum, k.checkpoint ? " and gradient checkpointing" : "", common::format_bytes(bytes));
    c->shape.batch = k.micro_batch;
    c->shape.grad_checkpoint = k.checkpoint;
    c->train.accum = accum;
    return line;
  }
  return std::string();
}

bool keep_stored_split(RunConfig* c, GradCheckpoint checkpoint) {
  Result<trainer::CheckpointInfo> info = trainer::read_newest_checkpoint_state(c->out_dir);
  if (!info.ok()) return false;
  const trainer::RunShape& s = info->shape;
  const int stored_accum = info->options.accum;
  if (s.seq_len != c->shape.seq_len ||
      static_cast<int64_t>(s.batch) * stored_accum != static_cast<int64_t>(c->shape.batch) * c->train.accum)
    return false;
  if (checkpoint != GradCheckpoint::kAuto && s.grad_checkpoint != (checkpoint == GradCheckpoint::kOn)) return false;
  if (s.batch == c->shape.batch && stored_accum == c->train.accum && s.grad_checkpoint == c->shape.grad_checkpoint)
    return false;
  c->shape.batch = s.batch;
  c->train.accum = stored_accum;
  c->shape.grad_checkpoint = s.grad_checkpoint;
  return true;
}

}  // namespace app
