// What the process reads from disk, as rates between two samples: the bytes the kernel fetched
// from storage on its behalf (/proc/self/io read_bytes, which counts the page-ins of a mapped file
// as well as read() calls) and its major page faults (getrusage). A run whose frozen base is
// streamed (`train --stream-base`) shows here how much of the base the page cache could not keep.
#pragma once

#include <cstdint>
#include <string>

namespace app {

// Cumulative counters of this process. read_bytes < 0: /proc/self/io cannot be read (no task I/O
// accounting in this kernel, or no /proc).
struct DiskReadCounters {
  int64_t read_bytes = -1;
  int64_t major_faults = 0;
};
DiskReadCounters read_disk_counters(const std::string& proc_io = "/proc/self/io");

class DiskReadRate {
 public:
  struct Rates {
    double read_bytes_per_s;    // NaN when unknown (first sample, or no /proc/self/io)
    double major_faults_per_s;  // NaN on the first sample
  };
  // Rates since the previous call; `now_s` is any monotonic clock in seconds.
  Rates sample(double now_s, const DiskReadCounters& now = read_disk_counters());

 private:
  bool primed_ = false;
  double last_s_ = 0;
  DiskReadCounters last_;
};

}  // namespace app
