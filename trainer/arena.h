// TensorStore: the memory of a run. One arena per TensorRole, each a single zero-filled, 64-byte
// aligned allocation holding its tensors in list order (offsets aligned to kArenaAlignBytes), and a
// name -> tensor index. Sized once from list_run_tensors; it never grows, so nothing is allocated in
// the step loop. Not thread-safe for lookups during creation; read-only afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "trainer/layout.h"

namespace trainer {

class TensorStore {
 public:
  // Allocates and zero-fills (so the pages are resident from the start and the measured peak matches
  // the plan). ResourceExhausted naming the role and size when an allocation fails.
  static common::Result<std::unique_ptr<TensorStore>> create(std::vector<TensorSpec> specs);
  ~TensorStore();
  TensorStore(const TensorStore&) = delete;
  TensorStore& operator=(const TensorStore&) = delete;

  // nullptr when no tensor has that name.
  void* find(const std::string& name) const;
  const TensorSpec* find_spec(const std::string& name) const;
  // A float tensor that must exist (CHECK).
  float* f32(const std::string& name) const;
  int32_t* i32(const std::string& name) const;

  const std::vector<TensorSpec>& specs() const { return specs_; }
  void* data(size_t spec_index) const { return ptrs_[spec_index]; }

  // The arena of one role: base pointer and size in bytes (including alignment padding; padding is
  // zero and stays zero, so flat loops over a whole arena are safe).
  uint8_t* arena(TensorRole role) const { return arenas_[static_cast<int>(role)]; }
  uint64_t arena_bytes(TensorRole role) const { return arena_bytes_[static_cast<int>(role)]; }
  uint64_t total_bytes() const;

 private:
  TensorStore() = default;
  std::vector<TensorSpec> specs_;
  std::vector<void*> ptrs_;
  std::unordered_map<std::string, size_t> index_;
  std::array<uint8_t*, kNumTensorRoles> arenas_{};
  std::array<uint64_t, kNumTensorRoles> arena_bytes_{};
};

}  // namespace trainer
