// The sampling flags `sample` and `chat` share (--temperature, --top-k, --top-p,
// --repetition-penalty, --repeat-last-n, --stop) and their checks.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/sampling.h"

namespace app {

void add_sampling_options(CLI::App* cmd, trainer::SamplingSettings* settings, std::vector<std::string>* stops);
// InvalidArgument naming the flag for a setting out of range.
common::Status check_sampling(const trainer::SamplingSettings& settings);

}  // namespace app
