// Llama 3.1's RoPE scaling as GGUF files carry it: llama.cpp's converter turns config.json's
// rope_scaling (rope_type "llama3": factor, low/high_freq_factor, original context) into one factor
// per frequency pair, the tensor rope_freqs.weight, and drops the parameters. This recovers them:
// the factors are 1 at high frequencies, `factor` at low ones, and in between 1/f = (1-s)/factor + s
// with s linear in 1/wavelength, which fixes the thresholds; the parameters found are then checked
// by recomputing every factor.
#pragma once

#include "common/status.h"
#include "trainer/formats/gguf.h"
#include "trainer/model_config.h"

namespace trainer {

// Sets config->attn's rope_scale_factor, rope_low/high_freq_factor and rope_original_context from
// `file`'s rope_freqs.weight (config's head_dim and rope_theta already set); leaves them alone when
// the file has no such tensor or all factors are 1. InvalidArgument naming the file when the factors
// are not those of the llama3 rule.
common::Status read_rope_freqs(const formats::GgufFile& file, ModelConfig* config);

}  // namespace trainer
