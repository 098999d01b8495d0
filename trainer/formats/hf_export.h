// A model written as a Hugging Face model directory, as transformers' save_pretrained lays it out:
//   DIR/config.json                        the architecture's config (model_type, architectures,
//                                          sizes, heads, RoPE, norm eps, vocabulary, tying,
//                                          torch_dtype "float32"), over the base's own config.json
//                                          when there is one (its other keys are kept)
//   DIR/model.safetensors                  every weight by its HF name (trainer/arch/hf_layout.h), F32;
//   or DIR/model-0000i-of-0000n.safetensors + DIR/model.safetensors.index.json when the weights
//                                          exceed the shard size (tensors in order, a new shard when
//                                          the next tensor would pass the limit; index with
//                                          metadata.total_size and weight_map)
//   the tokenizer files given (copied as they are)
// The directory is written beside DIR under a temporary name, every file fsynced, then renamed into
// place: a failure leaves nothing at DIR (and an existing DIR, replaced only with `replace`, intact).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "trainer/arch/hf_layout.h"
#include "trainer/model.h"

namespace trainer {

// "5GB", "200MB", "1.5GB" (powers of 1000, as transformers' max_shard_size), "1GiB", "64KiB"
// (powers of 1024), "123" or "123B" (bytes). InvalidArgument naming the text otherwise, or for 0.
common::Result<uint64_t> parse_byte_size(std::string_view text);

// config.json for `config` in `layout` (which must have an architecture): `base_config` is the
// base's config.json text ("" for none) whose keys are kept unless the model sets them;
// `name_or_path` becomes "_name_or_path" when not empty. InvalidArgument for a base config that is
// not a JSON object.
common::Result<std::string> hf_config_json(const ModelConfig& config, const HfLayout& layout,
                                           const std::string& base_config, const std::string& name_or_path);

struct HfDirOptions {
  std::string config_json;                   // hf_config_json's text
  std::vector<std::string> copy_files;       // files copied into the directory under their own names
  uint64_t max_shard_bytes = 5'000'000'000;  // per safetensors file (one tensor larger than this gets its own)
  bool replace = false;                      // replace an existing non-empty DIR
};

struct HfDirSummary {
  int shards = 0;
  uint64_t total_bytes = 0;  // tensor bytes
  int tensors = 0;
};

// Writes the fp32 weights of `model` (a full-mode model) under their HF names. InvalidArgument when
// DIR exists and is not empty without `replace`, or its parent folder does not exist; IOError
// naming the file that failed.
common::Status write_hf_model_dir(const std::string& dir, const Model& model, const HfLayout& layout,
                                  const HfDirOptions& options, HfDirSummary* summary);

}  // namespace trainer
