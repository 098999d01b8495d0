// What the run log costs the training loop: append_step amortised over batched flushes (the
// default), the same with a transaction per step (why batching), poll_control when nothing was
// sent (called every step), and a dashboard refresh of a long run with one new step. Compare the
// per-step figures with a step time: under 1% means under 10 us per 1 ms of step.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>

#include "app/loop/dashboard_model_builder.h"
#include "app/runlog/run_log.h"

namespace {

namespace fs = std::filesystem;

struct TempRun {
  std::string dir;
  explicit TempRun(const char* name) {
    dir = (fs::temp_directory_path() / (std::string("ns_bench_") + name + "_" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempRun() { fs::remove_all(dir); }
};

app::StepRecord make_step(int64_t i) {
  app::StepRecord s;
  s.step = i;
  s.loss = 3.0 + 1.0 / (1 + i);
  s.lr = 3e-4;
  s.tokens_per_s = 2000;
  s.temp_c = 70;
  s.lora_rank = 16;
  s.threads = 2;
  s.rss_bytes = 100 << 20;
  s.planned_bytes = 120 << 20;
  s.tokens = static_cast<uint64_t>(i) * 1024;
  s.governor = "normal";
  return s;
}

void append_steps(benchmark::State& state, app::RunLogOptions options, const char* name) {
  TempRun run(name);
  auto log = app::RunLog::open(run.dir, options);
  if (!log.ok()) {
    state.SkipWithError(log.status().message().c_str());
    return;
  }
  (void)(*log)->begin_run({});
  int64_t i = 0;
  for (auto _ : state) {
    (*log)->append_step(make_step(i++));
    (void)(*log)->poll_control();  // the loop polls every step too
  }
  (void)(*log)->flush();
  app::RunLogStats stats = (*log)->stats();
  state.counters["flushes"] = static_cast<double>(stats.flushes);
  state.counters["us_per_step_in_flush"] = 1e6 * stats.flush_seconds / std::max<double>(1, static_cast<double>(i));
  state.SetItemsProcessed(i);
}

// Default batching: 256 steps or 0.5 s per transaction.
void BM_AppendStepBatched(benchmark::State& state) { append_steps(state, {}, "batched"); }
BENCHMARK(BM_AppendStepBatched)->Unit(benchmark::kMicrosecond);

// One transaction per step (WAL commit each time): what batching saves.
void BM_AppendStepFlushEach(benchmark::State& state) {
  app::RunLogOptions options;
  options.flush_every_steps = 1;
  append_steps(state, options, "each");
}
BENCHMARK(BM_AppendStepFlushEach)->Unit(benchmark::kMicrosecond);

// poll_control with nothing new: one PRAGMA data_version.
void BM_PollControlIdle(benchmark::State& state) {
  TempRun run("poll");
  auto log = app::RunLog::open(run.dir);
  (void)(*log)->begin_run({});
  for (auto _ : state) benchmark::DoNotOptimize((*log)->poll_control());
}
BENCHMARK(BM_PollControlIdle)->Unit(benchmark::kMicrosecond);

// A dashboard refresh (top) of a 20,000-step run when one step is new.
void BM_DashboardRefresh(benchmark::State& state) {
  TempRun run("refresh");
  auto log = app::RunLog::open(run.dir);
  (void)(*log)->begin_run({});
  int64_t i = 0;
  for (; i < 20000; ++i) (*log)->append_step(make_step(i));
  (void)(*log)->flush();
  auto reader = app::RunLogReader::open(run.dir);
  app::DashboardModelBuilder builder(**reader);
  (void)builder.refresh(0);
  for (auto _ : state) {
    state.PauseTiming();
    (*log)->append_step(make_step(i++));
    (void)(*log)->flush();
    state.ResumeTiming();
    auto model = builder.refresh(0);
    benchmark::DoNotOptimize(model);
  }
}
BENCHMARK(BM_DashboardRefresh)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
