// TensorStore: one aligned, zero-filled allocation per role, tensors placed in list order.
#include "trainer/arena.h"

#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "common/units.h"

namespace trainer {

common::Result<std::unique_ptr<TensorStore>> TensorStore::create(std::vector<TensorSpec> specs) {
  std::unique_ptr<TensorStore> store(new TensorStore());
  std::array<uint64_t, kNumTensorRoles> offset{};
  std::vector<uint64_t> offsets(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    const int r = static_cast<int>(specs[i].role);
    offsets[i] = offset[r];
    offset[r] += align_up_bytes(specs[i].bytes);
    CHECK_MSG(store->index_.emplace(specs[i].name, i).second, specs[i].name.c_str());
  }
  for (int r = 0; r < kNumTensorRoles; ++r) {
    if (offset[r] == 0) continue;
    void* p = std::aligned_alloc(kArenaAlignBytes, offset[r]);
    if (!p) {
      return common::Status::ResourceExhausted(std::string("cannot allocate the ") +
                                               tensor_role_name(static_cast<TensorRole>(r)) + " arena (" +
                                               common::format_bytes(offset[r]) + ")");
    }
    std::memset(p, 0, offset[r]);
    store->arenas_[r] = static_cast<uint8_t*>(p);
    store->arena_bytes_[r] = offset[r];
  }
  store->ptrs_.resize(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    store->ptrs_[i] = store->arenas_[static_cast<int>(specs[i].role)] + offsets[i];
  }
  store->specs_ = std::move(specs);
  return store;
}

TensorStore::~TensorStore() {
  for (uint8_t* p : arenas_) std::free(p);
}

void* TensorStore::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : ptrs_[it->second];
}

const TensorSpec* TensorStore::find_spec(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &specs_[it->second];
}

float* TensorStore::f32(const std::string& name) const {
  auto it = index_.find(name);
  CHECK_MSG(it != index_.end(), ("no tensor named " + name).c_str());
  CHECK_MSG(specs_[it->second].dtype == DType::kF32, ("not an F32 tensor: " + name).c_str());
  return static_cast<float*>(ptrs_[it->second]);
}

int32_t* TensorStore::i32(const std::string& name) const {
  auto it = index_.find(name);
  CHECK_MSG(it != index_.end(), ("no tensor named " + name).c_str());
  CHECK_MSG(specs_[it->second].dtype == DType::kI32, ("not an I32 tensor: " + name).c_str());
  return static_cast<int32_t*>(ptrs_[it->second]);
}

uint64_t TensorStore::total_bytes() const {
  uint64_t t = 0;
  for (uint64_t b : arena_bytes_) t += b;
  return t;
}

}  // namespace trainer
