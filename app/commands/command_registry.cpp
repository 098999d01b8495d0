// Storage for the subcommand registry and the shared error reporter.
#include "app/commands/command_registry.h"

#include <cstdio>

namespace app {

std::vector<RegisterFn>& command_registry() {
  static std::vector<RegisterFn> registry;
  return registry;
}

int report_error(const common::Status& status) {
  std::fprintf(stderr, "nightshift: %s\n", status.message().c_str());
  switch (status.code()) {
    case common::StatusCode::kResourceExhausted: return kExitDoesNotFit;
    case common::StatusCode::kInternal: return kExitFailure;
    case common::StatusCode::kIOError: return kExitFailure;
    default: return kExitBadInput;
  }
}

}  // namespace app
