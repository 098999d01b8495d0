// Merging a PEFT adapter into its base: W' = W + scale · B · A for every adapted matrix, every other
// weight copied, into a plain (full-mode) model that can then be checkpointed, evaluated,
// sampled from or quantized again. W is the base dequantized to fp32 (one matrix at a time).
#pragma once

#include <string>

#include "common/status.h"
#include "trainer/formats/peft.h"
#include "trainer/model.h"
#include "trainer/quant/base_file.h"

namespace trainer {

// Checks that `adapter` fits `base` before anything is computed: the base identity (when both
// carry one), every adapted module is a linear weight of the base with the adapter's shapes.
// InvalidArgument naming the module or the two identities.
common::Status check_adapter_matches_base(const PeftAdapter& adapter, const BaseInfo& base,
                                          const std::string& adapter_dir);

// Fills every weight of `merged` (a full-mode model of base.info().config) with base + adapter.
common::Status merge_adapter(const BaseSource& base, const PeftAdapter& adapter, const std::string& adapter_dir,
                             Model& merged);

}  // namespace trainer
