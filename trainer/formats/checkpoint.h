// Checkpoints of a run directory:
//   RUN_DIR/checkpoints/step-00000100/model.safetensors      weights (names per docs/model.md)
//   RUN_DIR/checkpoints/step-00000100/optimizer.safetensors  AdamW moments "adam_m.<w>", "adam_v.<w>"
//   RUN_DIR/checkpoints/step-00000100/state.json             step, RNG, data position, schedule,
//                                                            resolved model and run config, the
//                                                            size + CRC-32 of both files, and a
//                                                            CRC-32 of the state itself ("state_crc32")
//   RUN_DIR/checkpoints/latest                               the name of the newest one written
//                                                            (informational: readers scan the folder)
// A checkpoint is written into "step-N.tmp/" (every file fsynced), the folder fsynced, renamed into
// place, and the checkpoints folder fsynced, so a crash, a kill or a full disk leaves the previous
// checkpoints intact. Readers take the newest checkpoint whose state.json matches its own CRC-32
// and whose files all match their sizes and checksums (version 1 checkpoints, written before the
// state CRC, are still read, with a warning that their state is not verified); damaged, partial or unfinished ones are skipped with a warning (common/log.h).
// Not thread-safe with respect to the model (call between steps); one writer per run directory.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>

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
  // Set by read_latest_checkpoint / read_checkpoint_dir: the checkpoint's directory.
  std::string dir;
  // Set by read_latest_checkpoint: every file's size and checksum was checked against state.json,
  // so load_checkpoint_tensors does not hash the files a second time.
  bool files_verified = false;
};

// Writes a checkpoint of `model` (weights, and moments when it is a training model) with `info`
// atomically (see the top of this file), then prune_checkpoints(run_dir, keep_last). A checkpoint of
// the same step already on disk is swapped out atomically (renameat2 RENAME_EXCHANGE where the file
// system has it). On failure (a full disk, an unwritable folder) the unfinished "step-N.tmp" is
// removed and IOError says which file failed and that the previous checkpoint is intact. A failed
// prune or `latest` update is a warning only: the new checkpoint is already durable.
common::Status save_checkpoint(const std::string& run_dir, const Model& model, const CheckpointInfo& info,
                               int keep_last = 2);

// The newest valid checkpoint of a run: checkpoint folders are tried from the highest step down,
// each needing a readable state.json of this format and every listed file with its recorded size
// and checksum. Each damaged, truncated or incomplete one, and each leftover "step-N.tmp" of an
// unfinished write, is skipped with a warning through common::log_warning. NotFound when the run
// has no checkpoint folder at all; Corruption naming the newest checkpoint's damaged file when none
// is valid. The result has files_verified set.
common::Result<CheckpointInfo> read_latest_checkpoint(const std::string& run_dir);
// One checkpoint directory (RUN_DIR/checkpoints/step-N), latest or not: state.json only (the files
// are checked by verify_checkpoint_files or load_checkpoint_tensors). NotFound / Corruption naming
// state.json when it is missing, truncated or of an unknown format.
common::Result<CheckpointInfo> read_checkpoint_dir(const std::string& dir);
// The state.json of RUN_DIR's newest checkpoint folder that has a readable one, files unchecked:
// for the settings a run keeps from checkpoint to checkpoint. NotFound when there is none.
common::Result<CheckpointInfo> read_newest_checkpoint_state(const std::string& run_dir);
// Checks every file listed in info.dir/state.json (model.safetensors at least) against its recorded
// size and CRC-32 (FNV-1a 64 in checkpoints written before). Corruption / NotFound naming the file otherwise.
common::Status verify_checkpoint_files(const CheckpointInfo& info);
// True when the run directory holds a checkpoint folder (RUN_DIR/checkpoints/step-N, valid or not)
// or a `latest` pointer; leftover "step-N.tmp" folders alone do not count.
bool has_checkpoint(const std::string& run_dir);

// Pins one checkpoint folder against pruning while another process (or thread) reads it — `export`,
// `eval`, `sample` beside a training run that prunes per --keep: a shared flock on its state.json.
// prune_checkpoints leaves a pinned checkpoint in place (the next prune removes it). Movable; the pin
// is released on destruction.
class CheckpointPin {
 public:
  CheckpointPin() = default;
  ~CheckpointPin();
  CheckpointPin(CheckpointPin&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  CheckpointPin& operator=(CheckpointPin&& other) noexcept;
  CheckpointPin(const CheckpointPin&) = delete;
  CheckpointPin& operator=(const CheckpointPin&) = delete;
  // NotFound when the folder or its state.json is gone (pruned meanwhile).
  static common::Result<CheckpointPin> pin(const std::string& dir);
  bool pinned() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// read_latest_checkpoint, with the checkpoint pinned (`pin`) before its files are read, so a
// concurrent prune cannot delete it midway. Retries when the newest one is pruned meanwhile.
common::Result<CheckpointInfo> read_latest_checkpoint_pinned(const std::string& run_dir, CheckpointPin* pin);

// Keeps the newest `keep` valid checkpoints of RUN_DIR and deletes every older checkpoint folder,
// damaged checkpoints older than a valid one, leftover "step-N.tmp" folders and stray temporary
// files of the `latest` pointer. Damaged checkpoints newer than every valid one are left for
// inspection (the run overwrites them when it reaches their step). keep <= 0 keeps every checkpoint
// and only removes the leftovers. Validity is checked as read_latest_checkpoint does (sizes and
// checksums), newest first, stopping at the keep-th valid one. A run without checkpoints is OK.
// IOError naming the first path that could not be deleted (the others are still tried).
common::Status prune_checkpoints(const std::string& run_dir, int keep);

// Loads the weights (and, when with_optimizer, the AdamW moments) of the checkpoint in info.dir into
// `model`, after checking each file's size and checksum against state.json (skipped when
// info.files_verified). Corruption naming the file for damage; InvalidArgument naming the tensor
// when the model's layout does not match. A lora/qlora model also gets its adapters' saved rank back.
common::Status load_checkpoint_tensors(const CheckpointInfo& info, Model& model, bool with_optimizer);

}  // namespace trainer
