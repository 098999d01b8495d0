// The RoPE frequency settings of an [attn] config as the kernels take them (trainer/kernels/kernels.h),
// shared by the training layer (attention.cpp) and the decode step (attention_decode.cpp).
#pragma once

#include "trainer/kernels/kernels.h"
#include "trainer/model_config.h"

namespace trainer {

inline RopeScaling rope_scaling_of(const AttnConfig& a) {
  RopeScaling s;
  s.factor = a.rope_scale_factor;
  s.low_freq_factor = a.rope_low_freq_factor;
  s.high_freq_factor = a.rope_high_freq_factor;
  s.original_context = a.rope_original_context;
  return s;
}

}  // namespace trainer
