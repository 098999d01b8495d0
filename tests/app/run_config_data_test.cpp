// The data settings of a run (issue 17): --val-data, --chat-template, --train-on, --no-packing,
// --long-examples from flags and the run TOML, kept in the run config JSON so that resume and eval
// use them, compared on resume (a run directory of an older version, without them, is not refused),
// and bad values refused naming the flag.
#include <gtest/gtest.h>

#include "app/train/run_config.h"
#include "app/train/train_flags.h"
#include "nlohmann/json.hpp"

namespace {

common::Result<app::RunConfig> from_flags(std::vector<const char*> args) {
  CLI::App root;
  CLI::App* cmd = root.add_subcommand("train");
  app::TrainFlags flags;
  app::add_train_flags(cmd, &flags);
  args.insert(args.begin(), {"nightshift", "train", "--data", "chat.jsonl"});
  root.parse(static_cast<int>(args.size()), const_cast<char**>(args.data()));
  return app::resolve_train_config(flags);
}

TEST(RunConfigData, FlagsReachTheRunConfigAndItsJson) {
  auto c = from_flags({"--val-data", "val.jsonl", "--chat-template", "llama3", "--train-on", "last", "--no-packing",
                       "--long-examples", "split"});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_TRUE(c->val_data_path.ends_with("/val.jsonl"));  // stored absolute
  EXPECT_EQ(c->chat_template, "llama3");
  EXPECT_EQ(c->train_on, "last");
  EXPECT_FALSE(c->packing);
  EXPECT_EQ(c->long_examples, "split");
  auto back = app::run_config_from_json(app::run_config_to_json(*c), "run.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->val_data_path, c->val_data_path);
  EXPECT_EQ(back->chat_template, "llama3");
  EXPECT_EQ(back->train_on, "last");
  EXPECT_FALSE(back->packing);
  EXPECT_EQ(back->long_examples, "split");
}

TEST(RunConfigData, TomlKeysAndBadValues) {
  app::RunConfig c = app::default_run_config();
  ASSERT_TRUE(app::apply_run_config_toml("[data]\npath = \"c.jsonl\"\nchat_template = \"gemma\"\ntrain_on = \"all\"\n"
                                         "packing = false\n",
                                         "run.toml", &c)
                  .ok());
  EXPECT_EQ(c.chat_template, "gemma");
  EXPECT_EQ(c.train_on, "all");
  EXPECT_FALSE(c.packing);
  auto bad = from_flags({"--train-on", "prompts"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--train-on must be assistant, all, completion or last"), std::string::npos);
  auto bad_long = from_flags({"--long-examples", "drop"});
  ASSERT_FALSE(bad_long.ok());
  EXPECT_NE(bad_long.status().message().find("--long-examples must be truncate or split"), std::string::npos);
}

TEST(RunConfigData, ResumeComparesTheDataSettings) {
  auto a = from_flags({});
  auto b = from_flags({"--train-on", "all"});
  ASSERT_TRUE(a.ok() && b.ok());
  const auto diff = app::run_config_differences(app::run_config_to_json(*a), app::run_config_to_json(*b));
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0], "data.train_on: \"auto\" -> \"all\"");
  // A run directory written before these settings existed.
  nlohmann::json old = nlohmann::json::parse(app::run_config_to_json(*a));
  for (const char* k : {"val_path", "chat_template", "train_on", "packing", "long_examples"}) old["data"].erase(k);
  EXPECT_TRUE(app::run_config_differences(old.dump(), app::run_config_to_json(*a)).empty());
  auto from_old = app::run_config_from_json(old.dump(), "old.json");
  ASSERT_TRUE(from_old.ok());
  EXPECT_EQ(from_old->train_on, "auto");
  EXPECT_TRUE(from_old->packing);
}

}  // namespace
