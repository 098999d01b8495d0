// HfCheckpoint: the weights of a Hugging Face model directory — `model.safetensors`, or shards
// `model-0000N-of-0000M.safetensors` listed by `model.safetensors.index.json` — memory-mapped, with
// every tensor found by name across the shards and read as fp32 (F32 as stored; F16 and BF16
// converted). The directory's config.json is read by trainer/arch (HfConfig).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/formats/safetensors.h"

namespace trainer {

class HfCheckpoint {
 public:
  // Opens the weights of `dir`. NotFound when it has neither model.safetensors nor an index, or a
  // shard the index lists is absent; Corruption / InvalidArgument naming the file for a damaged index
  // or shard, a tensor listed twice, or a tensor the index places in a shard that lacks it.
  static common::Result<std::unique_ptr<HfCheckpoint>> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // Every tensor: name -> (file, entry).
  struct Tensor {
    const SafetensorsFile* file;
    const SafetensorsFile::Entry* entry;
  };
  const std::map<std::string, Tensor>& tensors() const { return tensors_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }

  // The tensor `name` as fp32 into `out` (numel floats), which must hold exactly `numel` elements —
  // or, with parts > 1, block `part` of `parts` equal consecutive blocks of numel elements (one
  // expert of a fused expert tensor): NotFound naming the tensor and the directory; InvalidArgument
  // for another element count or a dtype that is not F32/F16/BF16.
  common::Status read_f32(const std::string& name, float* out, int64_t numel, int part = 0, int parts = 1) const;

  // Drops the resident pages of every shard (after the weights were copied out).
  void release_resident_pages() const;

 private:
  HfCheckpoint() = default;
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Tensor> tensors_;
};

}  // namespace trainer
