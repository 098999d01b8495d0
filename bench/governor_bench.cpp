// What the thermal governor and the run's conditions cost the training loop per step: the
// governor's decision on a fresh reading (threshold and setpoint policies), the whole
// ThermalStepGovernor (read the simulated plant, decide, turn the decision into a directive), and
// the ConditionsGovernor in front of it (deadline, a statvfs of the run directory every step,
// battery and memory every 5 s). Compare with a step time: under 1% means under 10 us per 1 ms.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>

#include "app/governors/run_conditions.h"
#include "app/governors/thermal_step_governor.h"
#include "common/clock.h"
#include "thermal/governor.h"
#include "thermal/simulated_plant.h"

namespace {

thermal::GovernorConfig config_for(thermal::Policy policy) {
  thermal::GovernorConfig c;
  c.policy = policy;
  return c;
}

void BM_GovernorDecide(benchmark::State& state) {
  common::FakeClock clock;
  auto policy = state.range(0) == 0 ? thermal::Policy::kThreshold : thermal::Policy::kSetpoint;
  auto governor = thermal::Governor::create(config_for(policy), thermal::Knobs{2, 16}, clock);
  if (!governor.ok()) {
    state.SkipWithError(governor.status().message().c_str());
    return;
  }
  std::optional<thermal::StepReport> last = thermal::StepReport{0.1, 2, 16};
  double t = 60;
  for (auto _ : state) {
    t = t >= 90 ? 60 : t + 0.01;  // a slow ramp through the bands
    clock.advance_s(0.1);
    thermal::Decision d = (*governor)->decide(thermal::Reading::value(t), last);
    benchmark::DoNotOptimize(d);
    (*governor)->take_events();
  }
  state.SetLabel(state.range(0) == 0 ? "threshold" : "setpoint");
}
BENCHMARK(BM_GovernorDecide)->Arg(0)->Arg(1);

std::unique_ptr<app::ThermalStepGovernor> make_thermal(common::Clock& clock) {
  thermal::PlantParams p;
  auto plant = std::make_unique<thermal::SimulatedPlant>(p, clock);
  thermal::SimulatedPlant* raw = plant.get();
  auto governor = thermal::Governor::create(thermal::GovernorConfig{}, thermal::Knobs{2, 16}, clock);
  return std::make_unique<app::ThermalStepGovernor>(std::move(plant), raw, std::move(*governor), 1.0, nullptr);
}

void BM_ThermalStepGovernor(benchmark::State& state) {
  common::FakeClock clock;
  auto g = make_thermal(clock);
  trainer::StepStats stats;
  stats.step_s = 0.1;
  stats.threads = 2;
  app::StepContext ctx{1, 1000000, 2, 2, nullptr};
  for (auto _ : state) {
    clock.advance_s(0.1);
    app::Directive d = g->before_step(ctx);
    benchmark::DoNotOptimize(d);
    g->after_step(stats);
  }
}
BENCHMARK(BM_ThermalStepGovernor);

void BM_ConditionsAndThermal(benchmark::State& state) {
  common::FakeClock clock;
  auto thermal = make_thermal(clock);
  app::ConditionsOptions o;
  app::RunWindowOptions w;
  w.max_hours = 1e6;
  o.window = w;
  o.on_battery = app::BatteryPolicy::kPause;
  o.checkpoint_dir = std::filesystem::temp_directory_path().string();
  o.checkpoint_bytes = 1 << 20;
  o.memory = app::MemoryWatchConfig{};
  o.batch = {4, 1};
  o.activation_bytes_per_sequence = 1 << 20;
  app::ConditionsGovernor g(o, thermal.get(), clock, nullptr);
  trainer::StepStats stats;
  stats.step_s = 0.1;
  stats.threads = 2;
  app::StepContext ctx{1, 1000000, 2, 2, nullptr};
  for (auto _ : state) {
    clock.advance_s(0.1);  // 10 steps per second: battery and memory read every 50th step
    app::Directive d = g.before_step(ctx);
    benchmark::DoNotOptimize(d);
    g.after_step(stats);
  }
}
BENCHMARK(BM_ConditionsAndThermal);

}  // namespace

BENCHMARK_MAIN();
