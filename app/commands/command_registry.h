// The subcommand registry. Each subcommand lives in its own app/cmd_<name>.cpp and registers itself:
//
//   NS_REGISTER_COMMAND(register_sensors);   // void register_sensors(CLI::App& root, app::Action& run)
//
// The register function adds a CLI11 subcommand to `root` and, in that subcommand's callback, sets
// `run` to the function main() will call. That function returns the process exit code:
//   0 success, 1 internal failure, 2 bad input (one line naming the file and the problem),
//   3 the run does not fit the memory budget, 4 the run cannot make progress (e.g. `train` with no
//   disk room for one more checkpoint: restarting will not help; docs/overnight.md).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <vector>

#include "common/status.h"

namespace app {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitDoesNotFit = 3;
constexpr int kExitCannotProgress = 4;

using Action = std::function<int()>;
using RegisterFn = void (*)(CLI::App& root, Action& run);

std::vector<RegisterFn>& command_registry();

struct CommandRegistrar {
  explicit CommandRegistrar(RegisterFn fn) { command_registry().push_back(fn); }
};

// Print "nightshift: <message>" on stderr and return the exit code that fits the status:
// kExitDoesNotFit for ResourceExhausted, kExitFailure for Internal/IOError, else kExitBadInput.
int report_error(const common::Status& status);

}  // namespace app

#define NS_REGISTER_COMMAND(fn) static ::app::CommandRegistrar NS_CONCAT(_ns_registrar_, __LINE__)(fn)
