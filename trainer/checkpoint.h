// Checkpoints of a run directory:
//   RUN_DIR/checkpoints/step-00000100/model.safetensors      weights (names per docs/model.md)
//   RUN_DIR/checkpoints/step-00000100/optimizer.safetensors  AdamW moments "adam_m.<w>", "adam_v.<w>"
//   RUN_DIR/checkpoints/step-00000100/state.json             step, RNG, data position, schedule,
//                                                            resolved model and run config, and the
//                                                            size + FNV-1a-64 of both files
//   RUN_DIR/checkpoints/latest                               the name of the newest complete one
// A checkpoint is written into "<name>.tmp/", fsynced, renamed, and only then made `latest`, so a
// crash or power cut leaves the previous checkpoint intact. Loading verifies sizes and checksums and
// names the damaged file. Not thread-safe with respect to the model (call between steps).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/model.h"
#include "trainer/trainer.h"

namespace trainer {

struct CheckpointInfo {
  int64_t step = 0;                   // optimizer steps done
  uint64_t train_position = 0;        // BatchSource position of the training data
  std::array<uint64_t, 4> rng{};      // trainer RNG state (reserved for stochastic features)
  TrainOptions options;               // lr schedule, AdamW, seed, ...
  RunShape shape;                     // batch, seq_len, grad_checkpoint, mode, lora_rank
  std::string model_toml;             // the resolved model (model_config_to_toml)
  std::string tokenizer_spec;         // "byte" or "gpt2:DIR"
  std::string run_json = "{}";        // the app's resolved run config, a JSON object stored verbatim
  float train_loss = 0.0f;            // loss of the last step
  float val_loss = -1.0f;             // last validation loss, -1 when none
  int lora_active_rank = 0;           // lora/qlora: the adapters' rank when saved (set by save_checkpoint)
  // Set by read_latest_checkpoint: the checkpoint's directory.
  std::string dir;
};

// Writes a checkpoint of `model` (weights, and moments when it is a training model) with `info`,
// then prunes older checkpoints so that `keep_last` remain. IOError naming the path on failure;
// the previous checkpoint stays valid.
common::Status save_checkpoint(const std::string& run_dir, const Model& model, const CheckpointInfo& info,
                               int keep_last = 2);

// The newest checkpoint of a run: NotFound when the run has none; Corruption naming the file when
// `latest` or state.json is unreadable, truncated or of an unknown format.
common::Result<CheckpointInfo> read_latest_checkpoint(const std::string& run_dir);
// One checkpoint directory (RUN_DIR/checkpoints/step-N), latest or not. Errors as above.
common::Result<CheckpointInfo> read_checkpoint_dir(const std::string& dir);
// True when RUN_DIR/checkpoints/latest exists.
bool has_checkpoint(const std::string& run_dir);

// Loads the weights (and, when with_optimizer, the AdamW moments) of the checkpoint in info.dir into
// `model`, after checking each file's size and checksum against state.json. Corruption naming the
// file for damage; InvalidArgument naming the tensor when the model's layout does not match.
// A lora/qlora model also gets its adapters' saved rank back.
common::Status load_checkpoint_tensors(const CheckpointInfo& info, Model& model, bool with_optimizer);

// FNV-1a 64 of a whole file, streamed. IOError/NotFound naming the file.
common::Result<uint64_t> fnv1a64_file(const std::string& path, uint64_t* bytes);

}  // namespace trainer
