// nightshift's entry point: builds the CLI from the registered subcommands and runs the chosen one.
// The only place that ends the process with an exit code; everything below returns Status.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "app/commands/command_registry.h"

namespace {

// OpenMP threads (ours and OpenBLAS's, one pool) wait at barriers. GNU OpenMP's default spins for a
// long while first, which on a machine doing anything else (a laptop overnight, a shared box) burns
// the time slice the working thread needs: measured 5-10x slower 2-thread training when another
// process holds a core (BENCHMARKS.md). Sleeping at once (OMP_WAIT_POLICY=PASSIVE) costs a futex
// wake-up per parallel region instead, a quarter of a small model's 2-thread step on an idle machine.
// A short spin (GOMP_SPINCOUNT=3000, microseconds) keeps back-to-back regions awake and still
// yields the core almost at once. libgomp reads its settings when the library loads, before main,
// so nightshift re-executes itself once with that setting unless the user chose a policy.
void prefer_short_openmp_spinning(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT")) return;
  if (setenv("GOMP_SPINCOUNT", "3000", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc): go on with the default policy.
}

}  // namespace

int main(int argc, char** argv) {
  prefer_short_openmp_spinning(argv);
  CLI::App root{"nightshift: train small language models on this machine, overnight, safely"};
  root.require_subcommand(1);
  root.set_version_flag("--version", "nightshift 0.1.0");
  // Parser errors look like every other error of nightshift: "nightshift: <what>" on one line.
  root.failure_message([](const CLI::App*, const CLI::Error& e) {
    return std::string("nightshift: ") + e.what() + " (see --help)\n";
  });
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
