// Writing a base file (trainer/quant/base_file.h) tensor by tensor: each frozen weight is asked of the
// lookup, converted to the base format and written before the next is asked for, so the writer holds
// one weight in fp32 and its encoding, never the model. `nightshift init` writes a randomly
// initialized base this way (InitialWeights, trainer/weight_init.h).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"
#include "trainer/quant/base_file.h"

namespace trainer {

// The file write_base_file writes for the same info and weights, byte for byte, written atomically
// (nothing is left at `path` on failure). `weights` is called once per frozen tensor, in the file's
// order, and its pointer need only stay valid until the next call (a lookup that produces every tensor
// into one reusable buffer will do). Errors from `weights` come back with info.source as context.
common::Status write_base_file_streamed(const std::string& path, const BaseInfo& info, const WeightLookup& weights);

// The bytes of the tensors such a file holds for `info` (the file is that plus its header, a few
// KiB). Errors as list_run_tensors.
common::Result<uint64_t> base_data_bytes(const BaseInfo& info);

}  // namespace trainer
