// Tests for app/run_config and app/train_flags: the run TOML's tables (a misspelled one is refused
// with the nearest valid name), NaN refused in the numbers, the default run directory of a model
// whose name is a path, the data path compared as a file on resume, and the overnight defaults.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "app/train/run_config.h"
#include "app/train/train_flags.h"

namespace {

namespace fs = std::filesystem;

common::Status apply_toml(const std::string& toml, app::RunConfig* c) {
  return app::apply_run_config_toml(toml, "run.toml", c);
}

// Issue 21, item 11: misspelled run-TOML tables were silently ignored.
TEST(RunConfigToml, AnUnknownTableIsRefusedWithTheNearestValidOne) {
  app::RunConfig c = app::default_run_config();
  common::Status s = apply_toml("[trian]\nsteps = 5\n", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("run.toml"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("unknown table [trian]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("did you mean [train]"), std::string::npos) << s.message();
  s = apply_toml("[dta]\npath = \"x.txt\"\n", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("did you mean [data]"), std::string::npos) << s.message();
  s = apply_toml("steps = 5\n", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'steps' outside any table"), std::string::npos) << s.message();
  s = apply_toml("[train]\nstpes = 5\n", &c);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("did you mean 'steps'"), std::string::npos) << s.message();
  EXPECT_TRUE(apply_toml("[train]\nsteps = 5\n[data]\npath = \"x.txt\"\n[lora]\nrank = 4\n", &c).ok());
}

// Issue 21, item 11: NaN passed every range check written as `x < 0`.
TEST(RunConfigToml, NanIsRefused) {
  for (const char* key : {"min_lr", "weight_decay", "grad_clip", "lr", "beta1"}) {
    app::RunConfig c = app::default_run_config();
    ASSERT_TRUE(apply_toml(std::string("[train]\n") + key + " = nan\n", &c).ok()) << key;
    EXPECT_FALSE(app::validate_run_config(c).ok()) << key << " = nan accepted";
  }
}

// Issue 21, item 11: a model name such as "../../x" put the run directory outside runs/.
TEST(RunConfig, TheDefaultRunDirectoryStaysInsideRuns) {
  EXPECT_EQ(app::default_run_dir("gpt-tiny"), "runs/gpt-tiny");
  EXPECT_EQ(app::default_run_dir("../../x"), "runs/_._.._x");
  EXPECT_EQ(app::default_run_dir(".."), "runs/_.");
  EXPECT_EQ(app::default_run_dir("/etc"), "runs/_etc");
  EXPECT_EQ(app::default_run_dir(""), "runs/model");
  const fs::path dir = fs::temp_directory_path() / ("ns_runcfg_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "run.toml") << "[model]\npreset = \"gpt-tiny\"\nname = \"../../escape\"\n[data]\npath = \"x.txt\"\n";
  app::TrainFlags flags;
  flags.config = (dir / "run.toml").string();
  auto c = app::resolve_train_config(flags);
  fs::remove_all(dir);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->out_dir.rfind("runs/", 0), 0u) << c->out_dir;
  for (const fs::path& part : fs::path(c->out_dir)) EXPECT_NE(part, "..") << c->out_dir;
  EXPECT_EQ(fs::path(c->out_dir).parent_path(), "runs") << c->out_dir;
}

// Issue 21, item 11: the same data given as a relative and as an absolute path is no settings change.
TEST(RunConfig, TheDataPathIsComparedAsAFile) {
  app::RunConfig a = app::default_run_config();
  a.data_path = "data/corpus.txt";
  app::RunConfig b = a;
  b.data_path = (fs::current_path() / "data" / "." / "corpus.txt").string();
  EXPECT_TRUE(app::run_config_differences(app::run_config_to_json(a), app::run_config_to_json(b)).empty());
  b.data_path = (fs::current_path() / "other.txt").string();
  const auto diff = app::run_config_differences(app::run_config_to_json(a), app::run_config_to_json(b));
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_NE(diff[0].find("data.path"), std::string::npos);
}

// Issue 21, item 10: time-based checkpoints are on by default, and --help says so.
TEST(TrainFlags, CheckpointEveryFifteenMinutesByDefault) {
  CLI::App root;
  CLI::App* cmd = root.add_subcommand("train");
  app::TrainFlags flags;
  app::add_train_flags(cmd, &flags);
  const char* argv[] = {"nightshift", "train", "--data", "x.txt"};
  root.parse(4, const_cast<char**>(argv));
  EXPECT_EQ(flags.watch.checkpoint_minutes, 15.0);
  const std::string help = cmd->help();
  const size_t at = help.find("--checkpoint-minutes");
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(help.find("default 15", at), std::string::npos) << help.substr(at, 200);
}

// Issue 21, item 11: NaN was accepted by the number flags.
TEST(TrainFlags, NanIsRefusedByTheNumberFlags) {
  for (const char* flag : {"--min-lr", "--weight-decay", "--grad-clip", "--max-hours", "--checkpoint-minutes",
                           "--sim-speed", "--lr"}) {
    CLI::App root;
    CLI::App* cmd = root.add_subcommand("train");
    app::TrainFlags flags;
    app::add_train_flags(cmd, &flags);
    const char* argv[] = {"nightshift", "train", flag, "nan"};
    EXPECT_THROW(root.parse(4, const_cast<char**>(argv)), CLI::ParseError) << flag << " nan accepted";
  }
}

}  // namespace
