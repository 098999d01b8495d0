// The disk read-speed probe and the per-step streaming estimate of `train --stream-base`.
#include "app/train/stream_estimate.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <memory>

#include "common/units.h"

namespace app {

using common::Result;
using common::Status;

std::string stream_probe_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return path;
  std::string best = path;
  uintmax_t best_size = 0;
  for (const fs::directory_entry& e : fs::directory_iterator(path, ec)) {
    const uintmax_t size = e.is_regular_file(ec) ? e.file_size(ec) : 0;
    if (!ec && size > best_size) best = e.path().string(), best_size = size;
  }
  return best;
}

Result<double> measure_read_speed(const std::string& path, uint64_t max_bytes) {
  constexpr size_t kChunk = 4u << 20;
  constexpr size_t kAlign = 4096;
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), O_RDONLY);  // no O_DIRECT on this file system
  if (fd < 0) return Status::IOError(path + ": cannot open to measure its read speed: " + std::strerror(errno));
  std::unique_ptr<void, decltype(&std::free)> buf(std::aligned_alloc(kAlign, kChunk), &std::free);
  uint64_t done = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (done < max_bytes) {
    const ssize_t n = ::pread(fd, buf.get(), kChunk, static_cast<off_t>(done));
    if (n < 0 && errno == EINVAL && done == 0) {  // O_DIRECT refused at read time: read normally
      ::close(fd);
      fd = ::open(path.c_str(), O_RDONLY);
      if (fd < 0) return Status::IOError(path + ": cannot open to measure its read speed: " + std::strerror(errno));
      continue;
    }
    if (n < 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::IOError(path + ": read failed while measuring its read speed: " + why);
    }
    if (n == 0) break;
    done += static_cast<uint64_t>(n);
  }
  ::close(fd);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (done == 0 || s <= 0) return Status::IOError(path + ": empty file, no read speed to measure");
  return static_cast<double>(done) / s;
}

StreamEstimate estimate_streaming(uint64_t base_bytes, uint64_t budget_bytes, uint64_t planned_bytes, int accum,
                                  bool grad_checkpoint, double read_bytes_per_s) {
  StreamEstimate e;
  e.base_bytes = base_bytes;
  e.cache_room_bytes = budget_bytes > planned_bytes ? budget_bytes - planned_bytes : 0;
  e.passes_per_step = std::max(1, accum) * (grad_checkpoint ? 3 : 2);
  e.read_bytes_per_s = read_bytes_per_s;
  if (read_bytes_per_s > 0) {
    const uint64_t missing = base_bytes > e.cache_room_bytes ? base_bytes - e.cache_room_bytes : 0;
    e.best_seconds = static_cast<double>(missing) * e.passes_per_step / read_bytes_per_s;
    e.worst_seconds = missing == 0 ? 0.0 : static_cast<double>(base_bytes) * e.passes_per_step / read_bytes_per_s;
  }
  return e;
}

std::string describe(const StreamEstimate& e) {
  if (e.base_bytes <= e.cache_room_bytes) {
    return fmt::format("--stream-base: the base ({}) fits the {} the budget leaves for the page cache: no disk reads "
                       "expected after the first step",
                       common::format_bytes(e.base_bytes), common::format_bytes(e.cache_room_bytes));
  }
  const std::string best = fmt::format("{:.1f}", e.best_seconds), worst = fmt::format("{:.1f}", e.worst_seconds);
  return fmt::format(
      "--stream-base: the base is {}, the budget leaves {} for the page cache; the disk reads {:.0f} MB/s here, so "
      "each step ({} passes over the base) spends about {} s more reading it",
      common::format_bytes(e.base_bytes), common::format_bytes(e.cache_room_bytes), e.read_bytes_per_s / 1e6,
      e.passes_per_step, best == worst ? best : best + " to " + worst);
}

}  // namespace app
