// The command line of `nightshift train`: every flag (model, data, schedule, LoRA, overnight
// supervision, thermal governor, dashboard) and their resolution, on top of the run TOML, into a
// RunConfig. The supervision flags (thermal, windows, battery, disk, dashboard) are not part of
// the resolved training config: they change how a run is watched over, not what it computes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/train/lora_run.h"
#include "app/train/run_config.h"
#include "common/status.h"

namespace app {

// A crash at hour 7 of a night must not lose the night: time-based checkpoints are on by default.
constexpr double kDefaultCheckpointMinutes = 15;

struct SupervisionFlags {
  bool headless = false;                 // timestamped progress lines on stderr (no dashboard)
  bool tui = false;                      // the dashboard in this terminal
  std::string profile = "host";          // thermal thresholds, plant, memory budget
  std::string thermal = "auto";          // auto | libsensors | sim | replay:FILE | none
  std::string thermal_policy;            // threshold | setpoint | none ("" = the profile's)
  std::vector<std::string> sensors;      // sensor patterns (chip/label)
  std::string fail_safe = "pause";       // pause | min-duty
  double sim_speed = 1.0;                // sim/replay: thermal time runs this much faster
  std::optional<double> shrink_c, pause_c, stop_c, resume_c, setpoint_c;
  double checkpoint_minutes = kDefaultCheckpointMinutes;  // 0: by steps only
  int keep = 3;                          // checkpoints kept
  std::string resume = "auto";           // auto | never
  bool force = false;                    // resume although the run config differs
  std::string until, window;             // "HH:MM", "HH:MM-HH:MM"
  double max_hours = 0;
  std::string at_window_end = "wait";    // wait | stop
  std::string on_battery = "pause";      // ignore | pause | stop
  std::string power_supply_root = "/sys/class/power_supply";
  std::string memory_limit;              // "" = the profile's available memory; "4G", "512M", bytes
  bool no_memory_check = false;
  std::string memory_low_water;          // pause below this MemAvailable ("" = 5% of RAM, 256 MiB..1 GiB)
  std::string name;                      // run name in the log and dashboard
};

struct TrainFlags {
  std::string config;
  std::optional<std::string> preset, model, data, tokenizer, out;
  std::optional<std::string> val_data, chat_template, train_on, long_examples;
  bool no_packing = false;
  std::optional<int64_t> steps, warmup;
  std::optional<int> batch, seq, accum, threads, eval_every, eval_batches, checkpoint_every, log_every;
  std::optional<float> lr, min_lr, weight_decay, grad_clip;
  std::optional<uint64_t> seed;
  std::string grad_checkpoint = "auto";  // --grad-checkpoint auto | on | off (bare: on)
  LoraFlags lora;             // --mode, --base, --rank, ... (app/train/lora_run.h)
  SupervisionFlags watch;
};

void add_train_flags(CLI::App* cmd, TrainFlags* flags);

// The run TOML (if any) with the flags on top, validated. InvalidArgument naming the flag or file.
common::Result<RunConfig> resolve_train_config(const TrainFlags& flags);

// "4G", "512M", "1.5GiB", "123456": bytes. InvalidArgument naming `what` otherwise.
common::Result<uint64_t> parse_byte_size(const std::string& text, const std::string& what);

}  // namespace app
