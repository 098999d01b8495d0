// train --stream-base's estimate: passes over the base per step, the part the page cache cannot
// keep, seconds at a given read speed; and the read-speed probe on a real file.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/train/stream_estimate.h"

namespace app {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

TEST(StreamEstimate, CountsPassesAndTheBytesTheCacheCannotKeep) {
  // 1000 MiB base, 1000 MiB budget of which the plan takes 600: 400 MiB of cache room.
  const StreamEstimate e = estimate_streaming(1000 * kMiB, 1000 * kMiB, 600 * kMiB, 2, false, 100.0 * kMiB);
  EXPECT_EQ(e.cache_room_bytes, 400 * kMiB);
  EXPECT_EQ(e.passes_per_step, 4);            // 2 micro-batches x (forward + input gradient)
  EXPECT_DOUBLE_EQ(e.best_seconds, 4 * 6.0);  // 600 MiB missing per pass at 100 MiB/s
  EXPECT_DOUBLE_EQ(e.worst_seconds, 4 * 10.0);
  EXPECT_NE(describe(e).find("--stream-base: the base is"), std::string::npos) << describe(e);
}

TEST(StreamEstimate, CheckpointingReadsTheBaseAThirdTime) {
  EXPECT_EQ(estimate_streaming(kMiB, kMiB, kMiB, 1, true, kMiB).passes_per_step, 3);
}

TEST(StreamEstimate, ABaseThatFitsTheCacheCostsNothing) {
  const StreamEstimate e = estimate_streaming(100 * kMiB, 1000 * kMiB, 600 * kMiB, 1, false, 100.0 * kMiB);
  EXPECT_EQ(e.best_seconds, 0.0);
  EXPECT_EQ(e.worst_seconds, 0.0);
  EXPECT_NE(describe(e).find("fits"), std::string::npos) << describe(e);
}

TEST(StreamEstimate, MeasuresAFilesReadSpeedAndPicksADirectorysLargestFile) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "ns_stream_probe";
  std::filesystem::create_directories(dir);
  {
    std::ofstream small(dir / "config.json");
    small << "{}";
    std::ofstream big(dir / "model.safetensors", std::ios::binary);
    std::vector<char> block(1 << 20, 'x');
    for (int i = 0; i < 8; ++i) big.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  EXPECT_EQ(stream_probe_file(dir.string()), (dir / "model.safetensors").string());
  common::Result<double> speed = measure_read_speed((dir / "model.safetensors").string(), 64 * kMiB);
  ASSERT_TRUE(speed.ok()) << speed.status().message();
  EXPECT_GT(*speed, 0.0);
  EXPECT_FALSE(measure_read_speed((dir / "missing").string(), kMiB).ok());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace app
