// resolve_train_run (resolve_run.h).
#include "app/train/resolve_run.h"

namespace app {

common::Result<ResolvedRun> resolve_train_run(const TrainFlags& flags) {
  ResolvedRun run;
  NS_ASSIGN_OR_RETURN(run.config, resolve_train_config(flags));
  RunConfig& c = run.config;
  NS_ASSIGN_OR_RETURN(run.lora, resolve_lora(flags.config, flags.lora, flags.preset || flags.model,
                                             flags.out.has_value(), &c));
  const trainer::BaseSource* base = run.lora.base.get();
  if (base != nullptr && base->imported() != nullptr && base->info().tokenizer.empty() && !flags.tokenizer &&
      c.tokenizer == "byte") {
    return common::Status::InvalidArgument(run.lora.base_path + ": the model carries no tokenizer (no tokenizer.json or "
                                           "tokenizer.model); name its tokenizer with --tokenizer");
  }
  // One RunShape for the planner and the model: per-thread scratch for the threads the run asked for.
  c.shape.max_threads = c.train.threads;
  NS_ASSIGN_OR_RETURN(run.tokenizer, trainer::make_tokenizer(c.tokenizer));
  if (run.lora.base) {
    // A pretrained model's embedding may be larger than its tokenizer (padded, reserved rows), never smaller.
    if (run.tokenizer->vocab_size() > c.model.vocab_size)
      return common::Status::InvalidArgument(run.lora.base_path + ": the tokenizer " + c.tokenizer + " has " +
                                             std::to_string(run.tokenizer->vocab_size()) + " tokens, the model only " +
                                             std::to_string(c.model.vocab_size));
  } else if (c.model.vocab_size != run.tokenizer->vocab_size()) {
    c.model.vocab_size = run.tokenizer->vocab_size();
  }
  NS_RETURN_IF_ERROR(trainer::validate_model_config(c.model, c.model_source));
  return run;
}

}  // namespace app
