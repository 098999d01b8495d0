// Disk-read counters of this process and their rates (disk_reads.h).
#include "app/loop/disk_reads.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdlib>
#include <fstream>

namespace app {

DiskReadCounters read_disk_counters(const std::string& proc_io) {
  DiskReadCounters c;
  std::ifstream in(proc_io);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("read_bytes:", 0) == 0) c.read_bytes = std::strtoll(line.c_str() + 11, nullptr, 10);
  }
  rusage u{};
  if (getrusage(RUSAGE_SELF, &u) == 0) c.major_faults = u.ru_majflt;
  return c;
}

DiskReadRate::Rates DiskReadRate::sample(double now_s, const DiskReadCounters& now) {
  Rates r{NAN, NAN};
  const double dt = now_s - last_s_;
  if (primed_ && dt > 0) {
    if (now.read_bytes >= 0 && last_.read_bytes >= 0 && now.read_bytes >= last_.read_bytes)
      r.read_bytes_per_s = static_cast<double>(now.read_bytes - last_.read_bytes) / dt;
    if (now.major_faults >= last_.major_faults)
      r.major_faults_per_s = static_cast<double>(now.major_faults - last_.major_faults) / dt;
  }
  primed_ = true;
  last_s_ = now_s;
  last_ = now;
  return r;
}

}  // namespace app
