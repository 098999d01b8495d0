// What streaming a frozen base from disk costs (`train --stream-base`): the disk's read speed,
// measured on the base file itself, and the seconds each step spends reading the part of the base
// the page cache cannot keep. Printed when the run starts; the dashboard shows the reads as they happen.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace app {

// The file whose reads stand for the base's: `path` itself, or the largest file of a directory (a
// Hugging Face checkpoint's safetensors shard).
std::string stream_probe_file(const std::string& path);

// Reads up to `max_bytes` of `path` past the page cache (O_DIRECT; a file system without it, such as
// tmpfs, is read normally and is memory-backed anyway) and returns bytes per second.
common::Result<double> measure_read_speed(const std::string& path, uint64_t max_bytes);

struct StreamEstimate {
  uint64_t base_bytes = 0;        // the streamed base (the planner's streamed_base_bytes)
  uint64_t cache_room_bytes = 0;  // what the budget leaves for the page cache: budget - planned total
  int passes_per_step = 0;        // reads of the whole base per optimizer step
  double read_bytes_per_s = 0;
  // Seconds of reading per step: `best` when the cache keeps its room's worth of the base between
  // passes, `worst` when every pass reads the whole base again (a cyclic scan through an LRU cache
  // larger than the cache does).
  double best_seconds = 0, worst_seconds = 0;
};

// Each micro-batch reads every frozen weight in the forward and again in the backward (input
// gradient), a third time when gradient checkpointing recomputes the forward.
StreamEstimate estimate_streaming(uint64_t base_bytes, uint64_t budget_bytes, uint64_t planned_bytes, int accum,
                                  bool grad_checkpoint, double read_bytes_per_s);

// One line for the log: "--stream-base: ...".
std::string describe(const StreamEstimate& e);

}  // namespace app
