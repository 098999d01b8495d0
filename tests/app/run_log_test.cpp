// Tests for the SQLite run log: schema creation, migration from a hand-built v1 log, refusal of
// newer/corrupt/foreign databases (left untouched), the single-writer lock, batching, the control
// round trip and a full disk. Concurrency lives in run_log_concurrency_test.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "app/runlog/run_log.h"
#include "common/atomic_file.h"
#include "common/clock.h"

namespace {

namespace fs = std::filesystem;
using app::ControlKind;
using app::RunLog;
using app::RunLogOptions;
using app::RunLogReader;
using app::RunStart;
using app::StepRecord;

class RunLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() /
            ("ns_run_log_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
             std::to_string(::getpid())))
               .string();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = dir_ + "/run.db";
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<RunLog> open_writer(RunLogOptions options = {}) {
    auto log = RunLog::open(dir_, options, &clock_);
    EXPECT_TRUE(log.ok()) << log.status().message();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  std::unique_ptr<RunLogReader> open_reader() {
    auto r = RunLogReader::open(dir_);
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  static StepRecord step(int64_t i) {
    StepRecord s;
    s.step = i;
    s.loss = 4.0 - 0.01 * i;
    s.lr = 3e-4;
    s.tokens_per_s = 1000 + i;
    s.trained_tokens_per_s = 600 + i;
    s.temp_c = 60 + 0.1 * i;
    s.lora_rank = 16;
    s.threads = 2;
    s.duty = 1.0;
    s.rss_bytes = 100 << 20;
    s.planned_bytes = 110 << 20;
    s.tokens = static_cast<uint64_t>(i + 1) * 512;
    s.governor = "normal";
    s.disk_read_bytes_per_s = 2.5e6 * i;
    s.major_faults_per_s = 10.0 * i;
    return s;
  }
  static RunStart named(std::string name) {
    RunStart start;
    start.name = std::move(name);
    return start;
  }
  std::string file_bytes() {
    auto r = common::read_file(db_);
    return r.ok() ? r.value() : std::string("<unreadable>");
  }

  std::string dir_, db_;
  common::FakeClock clock_{0.0, 1.7e9};
};

// The v1 schema as the first run log wrote it, kept here as a fixture.
constexpr const char* kV1Schema =
    "CREATE TABLE runs (id INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL,"
    "  status TEXT NOT NULL, config_json TEXT NOT NULL DEFAULT '{}',"
    "  profile TEXT NOT NULL DEFAULT '', model TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE steps (run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL,"
    "  time REAL NOT NULL, loss REAL, val_loss REAL, lr REAL, tokens_per_s REAL, temp_c REAL,"
    "  lora_rank INTEGER, threads INTEGER, duty REAL, rss_bytes INTEGER, planned_bytes INTEGER);"
    "CREATE UNIQUE INDEX steps_run_step ON steps(run_id, step);"
    "CREATE TABLE events (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  time REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_run ON events(run_id, id);"
    "CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),"
    "  step INTEGER NOT NULL, time REAL NOT NULL, path TEXT NOT NULL, bytes INTEGER NOT NULL,"
    "  checksum TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE control (id INTEGER PRIMARY KEY, time REAL NOT NULL, command TEXT NOT NULL,"
    "  done INTEGER NOT NULL DEFAULT 0);"
    "PRAGMA user_version=1;";

TEST_F(RunLogTest, CreatesSchemaInWalModeAndRoundTripsSteps) {
  auto log = open_writer();
  ASSERT_TRUE(log);
  RunStart start;
  start.name = "shakespeare";
  start.model = "tiny-attn";
  start.profile = "laptop";
  start.total_steps = 100;
  start.budget_bytes = 8ull << 30;
  start.temp_warn_c = 75;
  start.temp_hot_c = 85;
  start.temp_crit_c = 95;
  auto id = log->begin_run(start);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_TRUE(fs::exists(db_ + "-wal"));

  for (int i = 0; i < 10; ++i) {
    StepRecord s = step(i);
    if (i == 9) s.val_loss = 3.5;
    log->append_step(s);
  }
  auto reader = open_reader();
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->schema_version(), app::kRunLogSchemaVersion);
  // Buffered: the batch (256 steps, 0.5 s) is not due under the fake clock.
  EXPECT_TRUE(reader->steps(*id)->empty());
  EXPECT_EQ(log->stats().buffered_rows, 10u);
  ASSERT_TRUE(log->flush().ok());

  auto steps = reader->steps(*id);
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  ASSERT_EQ(steps->size(), 10u);
  const StepRecord& s3 = (*steps)[3].record;
  EXPECT_EQ(s3.step, 3);
  EXPECT_DOUBLE_EQ(s3.loss, 4.0 - 0.03);
  EXPECT_DOUBLE_EQ(s3.time_s, 1.7e9);  // the fake clock's wall time
  EXPECT_TRUE(std::isnan(s3.val_loss));
  EXPECT_DOUBLE_EQ((*steps)[9].record.val_loss, 3.5);
  EXPECT_EQ(s3.lora_rank, 16);
  EXPECT_EQ(s3.tokens, 4u * 512);
  EXPECT_EQ(s3.governor, "normal");
  EXPECT_DOUBLE_EQ(s3.trained_tokens_per_s, 603);
  EXPECT_DOUBLE_EQ(s3.disk_read_bytes_per_s, 7.5e6);
  EXPECT_DOUBLE_EQ(s3.major_faults_per_s, 30);

  auto run = reader->latest_run();
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->name, "shakespeare");
  EXPECT_EQ(run->status, "running");
  EXPECT_EQ(run->total_steps, 100);
  EXPECT_EQ(run->budget_bytes, 8ull << 30);
  EXPECT_DOUBLE_EQ(run->temp_hot_c, 85);
  EXPECT_TRUE(std::isnan(run->finished_s));

  log->record_checkpoint({9, dir_ + "/ckpt/step_9", 1234, "abcd"});
  ASSERT_TRUE(log->finish_run(app::RunStatus::kFinished).ok());
  run = reader->latest_run();
  EXPECT_EQ(run->status, "finished");
  EXPECT_FALSE(std::isnan(run->finished_s));
  auto ckpts = reader->checkpoints(*id);
  ASSERT_EQ(ckpts->size(), 1u);
  EXPECT_EQ((*ckpts)[0].record.bytes, 1234u);
  auto events = reader->events(*id);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].kind, "checkpoint");
}

TEST_F(RunLogTest, BatchFlushesWhenFullOrOld) {
  RunLogOptions options;
  options.flush_every_steps = 4;
  options.flush_interval_s = 1.0;
  auto log = open_writer(options);
  auto id = log->begin_run({});
  auto reader = open_reader();
  for (int i = 0; i < 3; ++i) log->append_step(step(i));
  EXPECT_EQ(reader->steps(*id)->size(), 0u);
  log->append_step(step(3));  // the fourth fills the batch
  EXPECT_EQ(reader->steps(*id)->size(), 4u);
  log->append_step(step(4));
  clock_.advance_s(1.5);
  log->tick();  // old enough
  EXPECT_EQ(reader->steps(*id)->size(), 5u);
  EXPECT_EQ(log->stats().flushes, 2u);
}

TEST_F(RunLogTest, RewrittenStepReplacesTheOldRow) {
  auto log = open_writer();
  auto id = log->begin_run({});
  for (int i = 0; i < 6; ++i) log->append_step(step(i));
  ASSERT_TRUE(log->flush().ok());
  StepRecord again = step(5);
  again.loss = 1.25;  // after a resume from the checkpoint at step 4
  log->append_step(again);
  ASSERT_TRUE(log->flush().ok());
  auto reader = open_reader();
  auto steps = reader->steps(*id);
  ASSERT_EQ(steps->size(), 6u);
  EXPECT_EQ(steps->back().record.step, 5);
  EXPECT_DOUBLE_EQ(steps->back().record.loss, 1.25);
  EXPECT_EQ(reader->steps(*id, (*steps)[4].rowid)->size(), 1u);
}

TEST_F(RunLogTest, MigratesAHandBuiltV1Log) {
  ASSERT_TRUE(app::run_log_execute_sql_for_test(db_, kV1Schema).ok());
  ASSERT_TRUE(app::run_log_execute_sql_for_test(
                  db_,
                  "INSERT INTO runs (started, status, model) VALUES (1.6e9, 'finished', 'old-model');"
                  "INSERT INTO steps (run_id, step, time, loss, lora_rank) VALUES (1, 0, 1.6e9, 5.5, 8);"
                  "INSERT INTO steps (run_id, step, time, loss, lora_rank) VALUES (1, 1, 1.6e9+1, 5.0, 8);"
                  "INSERT INTO control (time, command) VALUES (1.6e9, 'stop');")
                  .ok());
  {
    // A reader reads a v1 log as it is, without migrating it.
    auto reader = open_reader();
    ASSERT_TRUE(reader);
    EXPECT_EQ(reader->schema_version(), 1);
    auto steps = reader->steps(1);
    ASSERT_TRUE(steps.ok()) << steps.status().message();
    ASSERT_EQ(steps->size(), 2u);
    EXPECT_EQ((*steps)[1].record.governor, "");
    EXPECT_TRUE(std::isnan((*steps)[1].record.trained_tokens_per_s));  // a column of schema 3
    EXPECT_TRUE(std::isnan((*steps)[1].record.disk_read_bytes_per_s));  // schema 4
    EXPECT_TRUE(reader->samples(1)->empty());
    EXPECT_EQ(reader->latest_run()->model, "old-model");
  }
  auto log = open_writer();
  ASSERT_TRUE(log);
  auto reader = open_reader();
  EXPECT_EQ(reader->schema_version(), app::kRunLogSchemaVersion);
  auto old_run = reader->run(1);
  ASSERT_TRUE(old_run.ok());
  EXPECT_EQ(old_run->model, "old-model");
  EXPECT_EQ(old_run->name, "");
  EXPECT_EQ(old_run->total_steps, 0);
  auto old_steps = reader->steps(1);
  ASSERT_EQ(old_steps->size(), 2u);
  EXPECT_DOUBLE_EQ((*old_steps)[0].record.loss, 5.5);
  EXPECT_TRUE(std::isnan((*old_steps)[0].record.trained_tokens_per_s));

  // The new columns and table work on the migrated log, and the stale stop request expires.
  auto id = log->begin_run(named("after-migration"));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 2);
  EXPECT_TRUE(log->poll_control().empty());
  log->append_sample(71.5, 1 << 20);
  log->append_step(step(0));
  ASSERT_TRUE(log->flush().ok());
  EXPECT_EQ(reader->samples(2)->size(), 1u);
  EXPECT_EQ(reader->steps(2)->at(0).record.governor, "normal");
  auto control = reader->control(false);
  ASSERT_EQ(control->size(), 1u);
  EXPECT_TRUE((*control)[0].done);
  EXPECT_NE((*control)[0].result.find("expired"), std::string::npos);
}

TEST_F(RunLogTest, RefusesANewerSchemaAndLeavesItUntouched) {
  ASSERT_TRUE(app::run_log_execute_sql_for_test(db_, "CREATE TABLE runs (id INTEGER); PRAGMA user_version=99;").ok());
  std::string before = file_bytes();
  auto log = RunLog::open(dir_, {}, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), common::StatusCode::kInvalidArgument);
  EXPECT_NE(log.status().message().find(db_), std::string::npos) << log.status().message();
  EXPECT_NE(log.status().message().find("newer"), std::string::npos);
  auto reader = RunLogReader::open(dir_);
  ASSERT_FALSE(reader.ok());
  EXPECT_NE(reader.status().message().find("newer"), std::string::npos);
  EXPECT_EQ(file_bytes(), before);
  EXPECT_FALSE(fs::exists(db_ + "-wal"));
}

TEST_F(RunLogTest, RefusesACorruptFileAndLeavesItUntouched) {
  std::string garbage(8192, '\x5a');
  garbage.replace(0, 16, "definitely not  ");
  ASSERT_TRUE(common::write_file_atomic(db_, garbage).ok());
  auto log = RunLog::open(dir_, {}, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), common::StatusCode::kCorruption);
  EXPECT_NE(log.status().message().find(db_), std::string::npos);
  auto reader = RunLogReader::open(dir_);
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), common::StatusCode::kCorruption);
  EXPECT_EQ(file_bytes(), garbage);
}

TEST_F(RunLogTest, RefusesASqliteFileThatIsNotARunLog) {
  ASSERT_TRUE(app::run_log_execute_sql_for_test(db_, "CREATE TABLE recipes (name TEXT);").ok());
  std::string before = file_bytes();
  auto log = RunLog::open(dir_, {}, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("not a nightshift run log"), std::string::npos);
  EXPECT_EQ(file_bytes(), before);
}

TEST_F(RunLogTest, MissingDirectoryOrLogIsNotFound) {
  auto log = RunLog::open(dir_ + "/nope", {}, &clock_);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(log.status().message().find(dir_ + "/nope"), std::string::npos);
  auto reader = RunLogReader::open(dir_);  // the directory exists, the log does not
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), common::StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("run.db"), std::string::npos);
  EXPECT_FALSE(fs::exists(db_));  // a reader never creates the log
}

TEST_F(RunLogTest, SecondWriterIsRefused) {
  auto first = open_writer();
  ASSERT_TRUE(first);
  auto second = RunLog::open(dir_, {}, &clock_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), common::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("locked"), std::string::npos);
  first.reset();
  EXPECT_TRUE(RunLog::open(dir_, {}, &clock_).ok());  // released with the first writer
}

TEST_F(RunLogTest, ControlRoundTrip) {
  auto log = open_writer();
  auto id = log->begin_run({});
  auto reader = open_reader();
  EXPECT_TRUE(log->poll_control().empty());
  auto pause = reader->send_control(ControlKind::kPause);
  ASSERT_TRUE(pause.ok()) << pause.status().message();
  ASSERT_TRUE(app::run_log_execute_sql_for_test(db_, "INSERT INTO control (time, command) VALUES (0, 'dance')").ok());
  auto requests = log->poll_control();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].id, *pause);
  EXPECT_EQ(requests[0].kind, ControlKind::kPause);
  EXPECT_TRUE(log->poll_control().empty());  // each request is returned once

  log->complete_control(requests[0].id, "ok");
  log->set_status(app::RunStatus::kPaused);
  log->append_event("pause", "requested by a dashboard");
  auto control = reader->control(false);
  ASSERT_EQ(control->size(), 2u);
  EXPECT_TRUE((*control)[0].done);
  EXPECT_EQ((*control)[0].result, "ok");
  EXPECT_TRUE((*control)[1].done);  // the unknown command
  EXPECT_NE((*control)[1].result.find("ignored"), std::string::npos);
  EXPECT_TRUE(reader->control(true)->empty());
  EXPECT_EQ(reader->latest_run()->status, "paused");
  EXPECT_EQ(reader->recent_events(*id, 5)->back().kind, "pause");

  auto stop = reader->send_control(ControlKind::kStop);
  ASSERT_TRUE(stop.ok());
  requests = log->poll_control();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].kind, ControlKind::kStop);
}

TEST_F(RunLogTest, FullDiskIsReportedOnceAndTrainingGoesOn) {
  RunLogOptions options;
  options.flush_every_steps = 64;
  options.retry_interval_s = 5.0;
  auto log = open_writer(options);
  auto id = log->begin_run({});
  ASSERT_TRUE(log->flush().ok());
  ASSERT_TRUE(log->set_max_db_bytes(1).ok());  // no room to grow: like a full disk

  int failures_reported = 0;
  const int kSteps = 3000;
  for (int i = 0; i < kSteps; ++i) {
    StepRecord s = step(i);
    s.governor = std::string(200, 'x');  // fat rows fill pages fast
    log->append_step(s);                 // never fails, never throws
    clock_.advance_s(0.01);
    if (auto failure = log->take_failure()) {
      ++failures_reported;
      EXPECT_EQ(failure->code(), common::StatusCode::kIOError);
      EXPECT_NE(failure->message().find("disk full"), std::string::npos) << failure->message();
      EXPECT_NE(failure->message().find(db_), std::string::npos);
    }
  }
  EXPECT_EQ(failures_reported, 1);
  EXPECT_FALSE(log->healthy());
  // Retries are spaced out: about one per retry interval, not one per step.
  EXPECT_LE(log->stats().failed_flushes, 8u);
  EXPECT_EQ(log->stats().dropped_rows, 0u);

  ASSERT_TRUE(log->set_max_db_bytes(0).ok());  // space is back
  clock_.advance_s(10);
  log->tick();
  EXPECT_TRUE(log->healthy());
  ASSERT_TRUE(log->flush().ok());
  auto reader = open_reader();
  EXPECT_EQ(reader->steps(*id)->size(), static_cast<size_t>(kSteps));
  auto events = reader->events(*id);
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().kind, "warning");
  EXPECT_NE(events->back().detail.find("resumed"), std::string::npos);
}

TEST_F(RunLogTest, BufferIsBoundedWhileWritesFail) {
  RunLogOptions options;
  options.max_buffered_rows = 100;
  auto log = open_writer(options);
  auto id = log->begin_run({});
  ASSERT_TRUE(log->set_max_db_bytes(1).ok());
  for (int i = 0; i < 1000; ++i) {
    StepRecord s = step(i);
    s.governor = std::string(300, 'y');
    log->append_step(s);
  }
  EXPECT_LE(log->stats().buffered_rows, 100u);
  EXPECT_GT(log->stats().dropped_rows, 0u);
  ASSERT_TRUE(log->set_max_db_bytes(0).ok());
  ASSERT_TRUE(log->flush().ok());
  auto reader = open_reader();
  auto steps = reader->steps(*id);
  ASSERT_FALSE(steps->empty());
  EXPECT_EQ(steps->back().record.step, 999);  // the newest rows are the ones kept
}

TEST_F(RunLogTest, ExportsWholeTables) {
  auto log = open_writer();
  auto id = log->begin_run(named("t"));
  log->append_step(step(0));
  log->append_event("eval", "val_loss 3.2");
  ASSERT_TRUE(log->flush().ok());
  auto reader = open_reader();
  auto table = reader->table("steps", *id);
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->rows.size(), 1u);
  auto loss_col = std::find(table->columns.begin(), table->columns.end(), "loss") - table->columns.begin();
  EXPECT_DOUBLE_EQ(std::get<double>(table->rows[0][loss_col]), 4.0);
  auto val_col = std::find(table->columns.begin(), table->columns.end(), "val_loss") - table->columns.begin();
  EXPECT_TRUE(std::holds_alternative<std::monostate>(table->rows[0][val_col]));
  EXPECT_FALSE(reader->table("sqlite_master", -1).ok());
  EXPECT_EQ(reader->table("runs", -1)->rows.size(), 1u);
}

}  // namespace
