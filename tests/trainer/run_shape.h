// A RunShape of the given micro-batch and sequence length, every other field at its default.
// (Brace-initializing the aggregate trips -Wmissing-field-initializers on its LoraSettings member.)
#pragma once

#include "trainer/layout.h"

namespace trainer_test {

inline trainer::RunShape run_shape(int batch, int seq_len) {
  trainer::RunShape s;
  s.batch = batch;
  s.seq_len = seq_len;
  return s;
}

}  // namespace trainer_test
