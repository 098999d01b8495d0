// statvfs-based free-space checks.
#include "app/governors/disk_space.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/units.h"

namespace app {

common::Result<uint64_t> free_disk_bytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) {
    return common::Status::IOError(path + ": statvfs: " + std::strerror(errno));
  }
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

common::Status check_disk_room(const std::string& dir, uint64_t needed_bytes) {
  NS_ASSIGN_OR_RETURN(uint64_t free_bytes, free_disk_bytes(dir));
  uint64_t margin = std::max<uint64_t>(needed_bytes / 10, 16 * common::kMiB);
  if (free_bytes < needed_bytes + margin) {
    return common::Status::ResourceExhausted(dir + ": only " + common::format_bytes(free_bytes) +
                                             " free, a checkpoint needs " + common::format_bytes(needed_bytes) +
                                             " plus a margin of " + common::format_bytes(margin));
  }
  return common::Status::Ok();
}

}  // namespace app
