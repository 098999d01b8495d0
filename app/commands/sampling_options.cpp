// add_sampling_options and check_sampling.
#include "app/commands/sampling_options.h"

#include "app/commands/cli_validators.h"

namespace app {

void add_sampling_options(CLI::App* cmd, trainer::SamplingSettings* s, std::vector<std::string>* stops) {
  cmd->add_option("--temperature", s->temperature, "softmax temperature; 0 = greedy (default 0.8)")->check(finite_number);
  cmd->add_option("--top-k", s->top_k, "sample among the K most likely tokens; 0 = all (default 40)");
  cmd->add_option("--top-p", s->top_p,
                  "sample among the most likely tokens whose probabilities add up to P (nucleus); 1 = all (default 1)")
      ->check(finite_number);
  cmd->add_option("--repetition-penalty", s->repetition_penalty,
                  "divide the positive logits (multiply the negative ones) of recently seen tokens by R; 1 = off (default 1)")
      ->check(finite_number);
  cmd->add_option("--repeat-last-n", s->repeat_last_n, "how many recent tokens the repetition penalty looks at (default 64)");
  cmd->add_option("--stop", *stops, "stop when the generated text contains STR (repeatable); STR itself is not printed");
}

common::Status check_sampling(const trainer::SamplingSettings& s) {
  if (!(s.top_p > 0.0f && s.top_p <= 1.0f)) return common::Status::InvalidArgument("--top-p must be in (0, 1]");
  if (!(s.repetition_penalty > 0.0f)) return common::Status::InvalidArgument("--repetition-penalty must be positive");
  if (s.repeat_last_n < 0) return common::Status::InvalidArgument("--repeat-last-n must not be negative");
  return common::Status::Ok();
}

}  // namespace app
