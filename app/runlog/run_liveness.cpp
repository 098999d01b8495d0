// run_liveness: the heartbeat and writer-lock test behind "stopped" for a trainer that died.
#include "app/runlog/run_liveness.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <ctime>
#include <filesystem>

namespace app {

bool run_log_writer_active(const std::string& run_dir) {
  int fd = ::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  // A shared probe conflicts with the writer's exclusive lock only; it is dropped at once (the
  // writer retries its own lock briefly, so a probe never makes a starting trainer fail).
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

RunLiveness run_liveness(const RunRow& run, const std::string& run_dir, double now_s, double stale_after_s) {
  RunLiveness out;
  out.status = run.status;
  const bool open = (run.status == "running" || run.status == "paused") && std::isnan(run.finished_s);
  if (!open) return out;
  double last = std::isnan(run.updated_s) ? run.started_s : run.updated_s;
  if (now_s - last < stale_after_s) return out;
  if (run_log_writer_active(run_dir)) return out;
  out.status = "stopped";
  out.gone = true;
  out.last_seen_s = last;
  return out;
}

std::string gone_text(const RunLiveness& l) {
  std::time_t t = static_cast<std::time_t>(l.last_seen_s);
  std::tm tm{};
  localtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
  return "trainer gone; last heartbeat " + std::string(when);
}

std::string describe_status(const RunLiveness& l) {
  if (!l.gone) return l.status;
  return "stopped (" + gone_text(l) + ")";
}

std::string run_dir_of(const std::string& db_path) {
  std::filesystem::path p(db_path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

}  // namespace app
