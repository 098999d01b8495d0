// Tests for the disk-read counters of a run (app/loop/disk_reads.h): rates between samples, a
// /proc/self/io that is missing or odd, and real major faults from a file mapped after its pages
// were dropped from the page cache.
#include "app/loop/disk_reads.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

namespace {

TEST(DiskReads, RatesBetweenSamples) {
  app::DiskReadRate rate;
  app::DiskReadRate::Rates first = rate.sample(10.0, {1000, 5});
  EXPECT_TRUE(std::isnan(first.read_bytes_per_s));  // nothing to compare with yet
  EXPECT_TRUE(std::isnan(first.major_faults_per_s));
  app::DiskReadRate::Rates second = rate.sample(12.0, {1000 + 8 * 1048576, 25});
  EXPECT_DOUBLE_EQ(second.read_bytes_per_s, 4.0 * 1048576);
  EXPECT_DOUBLE_EQ(second.major_faults_per_s, 10.0);
  // No /proc/self/io: the byte rate is unknown, the faults still count.
  app::DiskReadRate::Rates third = rate.sample(13.0, {-1, 26});
  EXPECT_TRUE(std::isnan(third.read_bytes_per_s));
  EXPECT_DOUBLE_EQ(third.major_faults_per_s, 1.0);
}

TEST(DiskReads, ReadsProcIoAndToleratesItsAbsence) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("ns-disk-reads-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string io = (dir / "io").string();
  std::ofstream(io) << "rchar: 123\nwchar: 45\nsyscr: 6\nsyscw: 7\nread_bytes: 409600\nwrite_bytes: 8192\n";
  EXPECT_EQ(app::read_disk_counters(io).read_bytes, 409600);
  EXPECT_EQ(app::read_disk_counters((dir / "missing").string()).read_bytes, -1);
  EXPECT_GE(app::read_disk_counters((dir / "missing").string()).major_faults, 0);
  std::filesystem::remove_all(dir);
}

// A file written, synced and dropped from the page cache, then read through a mapping: each
// page that waits for the disk is a major fault, as a streamed base's pages are.
TEST(DiskReads, CountsTheMajorFaultsOfAMappedFileReadFromDisk) {
  const std::filesystem::path dir = std::filesystem::current_path() / ("ns-disk-reads-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  struct statfs fs {};
  ASSERT_EQ(statfs(dir.c_str(), &fs), 0);
  if (fs.f_type == 0x01021994 /* TMPFS_MAGIC */) {
    std::filesystem::remove_all(dir);
    GTEST_SKIP() << "the test directory is on tmpfs: its pages never come from a disk";
  }
  const std::string path = (dir / "pages").string();
  const size_t bytes = 16u << 20;
  {
    std::vector<char> data(bytes, 7);
    std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(bytes));
  }
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fdatasync(fd), 0);
  ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  void* map = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  app::DiskReadRate rate;
  rate.sample(0.0);
  long sum = 0;
  const long page = sysconf(_SC_PAGESIZE);
  for (size_t i = 0; i < bytes; i += static_cast<size_t>(page)) sum += static_cast<const char*>(map)[i];
  const app::DiskReadRate::Rates r = rate.sample(1.0);
  munmap(map, bytes);
  close(fd);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(sum, 7L * static_cast<long>(bytes / static_cast<size_t>(page)));
  EXPECT_GT(r.major_faults_per_s, 0) << "no page of a file dropped from the cache waited for the disk";
  if (!std::isnan(r.read_bytes_per_s)) {
    EXPECT_GT(r.read_bytes_per_s, 0) << "/proc/self/io counted no read";
  }
}

}  // namespace
