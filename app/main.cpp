// nightshift's entry point: builds the CLI from the registered subcommands and runs the chosen one.
// The only place that ends the process with an exit code; everything below returns Status.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <vector>

#include "app/command_registry.h"

int main(int argc, char** argv) {
  CLI::App root{"nightshift: train small language models on this machine, overnight, safely"};
  root.require_subcommand(1);
  root.set_version_flag("--version", "nightshift 0.1.0");
  app::Action run;
  for (app::RegisterFn fn : app::command_registry()) fn(root, run);
  // Installed as `budget-report` too (a link to nightshift): run that subcommand.
  std::vector<char*> args(argv, argv + argc);
  const char* slash = std::strrchr(argv[0], '/');
  char budget_report[] = "budget-report";
  if (std::strcmp(slash ? slash + 1 : argv[0], budget_report) == 0) args.insert(args.begin() + 1, budget_report);
  try {
    root.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    int rc = root.exit(e);
    return rc == 0 ? app::kExitOk : app::kExitBadInput;
  }
  if (!run) {
    std::fprintf(stderr, "nightshift: no command chosen (see --help)\n");
    return app::kExitBadInput;
  }
  return run();
}
