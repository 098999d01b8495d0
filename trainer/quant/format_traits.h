// The table of nightshift's own storage formats of a frozen base matrix (format.h): one entry per
// QuantFormat with what the layout, the quantizer, the decoder and the dequant-matmul need to know.
// Code that depends on the format reads these traits instead of switching on it.
#pragma once

#include <cstdint>

#include "trainer/quant/format.h"

namespace trainer {

// What each format is, as ONE table (format.cpp, one entry per QuantFormat): the layout, the
// quantizer, the decoder and the dequant-matmul read these traits and never switch on the format.
// (These formats cannot be entries of the ggml type table, ggml_types.h: their absmax scales sit in
// a section of their own after the codes and their blocks run over the flattened matrix, across row
// boundaries, where a ggml row is self-contained blocks of codes with their scales.)
struct FormatTraits {
  QuantFormat format;
  const char* name;         // "f32", "f16", "bf16", "q8", "nf4"
  int code_bits;            // bits of one element in the codes section: 32, 16, 8, 4
  int64_t block_elems;      // values per absmax block: kQuantBlock for Q8/NF4, 1 (no scales) otherwise
  bool double_quant;        // whether its block scales may be double-quantized (NF4)
  bool plain_f32;           // the codes are the fp32 values: sgemm reads them in place, nothing converts
  int64_t parallel_chunk;   // elements per OpenMP work item of a long decode (0: one memcpy, never split)
  // Decodes elements [begin, end) of the flattened matrix into out[0 .. end-begin), on this thread.
  void (*decode_range)(const QuantView& w, int64_t begin, int64_t end, float* out);
  // Writes the codes of all w.layout.n() elements of src into w's codes section; for a block format
  // the block scales are already in place (the codes are computed against the scale the decoder uses).
  void (*encode_codes)(const QuantView& w, const float* src, uint8_t* codes);
};
const FormatTraits& format_traits(QuantFormat f);

}  // namespace trainer

