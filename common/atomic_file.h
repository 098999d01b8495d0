// Atomic file writes: write to "PATH.tmp.<pid>", fsync, rename over PATH, fsync the directory.
// A crash or a full disk leaves either the old file or the new one, never a half-written PATH.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace common {

// Write `data` to `path` atomically. On failure the temporary is removed and `path` is untouched.
Status write_file_atomic(const std::string& path, std::string_view data);
// Read a whole file. NotFound if absent; IOError on read failure.
Result<std::string> read_file(const std::string& path);
// fsync the directory holding `path` (so a rename is durable).
Status fsync_parent_dir(const std::string& path);

}  // namespace common
