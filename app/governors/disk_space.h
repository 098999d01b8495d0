// Free space where checkpoints go, so a run stops cleanly before a checkpoint would fail.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace app {

// Bytes available to this user on the filesystem holding `path` (statvfs f_bavail * f_frsize).
common::Result<uint64_t> free_disk_bytes(const std::string& path);

// OK when `needed_bytes` plus a margin (10% of it, at least 16 MiB) fits in the free space at `dir`;
// ResourceExhausted naming the directory and both sizes otherwise.
common::Status check_disk_room(const std::string& dir, uint64_t needed_bytes);

}  // namespace app
