// LoraSettings: the part of a run's fixed shape (RunShape::lora) that says how the lora and qlora
// modes build their layers: adapter capacity, scale, which matrices get adapters, and how the frozen
// base is stored. Plain data; validated by validate_lora_settings (trainer/lora/plan.h).
#pragma once

#include <string>
#include <vector>

#include "trainer/quant/bf16_gemm.h"
#include "trainer/quant/format.h"

namespace trainer {

struct LoraSettings {
  // Adapters are allocated for this rank, the ceiling the rank may grow to between steps;
  // 0 = the run's initial rank (RunShape::lora_rank).
  int rank_max = 0;
  // scale = alpha / initial rank, rounded once to float; 0 = alpha equal to the initial rank
  // (scale 1). The scale stays fixed when the rank changes later. Double, so that a PEFT adapter's
  // lora_alpha / r gives back the exact scale it was saved with.
  double alpha = 0.0;
  // Local names of the matrices that get adapters ("q", "k", "v", "o", "gate", "up", "down",
  // "in_proj", "out_proj", "x_proj", "dt_proj", "router"); empty = default_lora_targets().
  std::vector<std::string> targets;
  // Storage of the frozen linear weights: lora takes f32, f16 or bf16; qlora takes nf4 or q8.
  QuantFormat base_format = QuantFormat::kF32;
  bool double_quant = false;  // nf4 only
  // The frozen linear weights stay in the base model's file, memory-mapped in its own encoding
  // (a GGUF's types, an HF checkpoint's F16/BF16), instead of being copied into the frozen-weight
  // arena in base_format: the layout lists them with 0 bytes and the base binds them after the model
  // is built (LoraRegistry::map_base). base_format and double_quant are then unused.
  bool mapped_base = false;
  // With mapped_base: "" when the base is read in its file's own encoding; a ggml type name ("q4_K")
  // when the base (an HF checkpoint) is encoded into that type on load and held in memory.
  std::string mapped_encoding;
  // With mapped_base: bytes of those linear weights as mapped (the file's types) or encoded on load.
  // Not layout: the planner counts them, since every step reads them all and they stay resident.
  uint64_t mapped_bytes = 0;
  // With mapped_base (`train --stream-base`): the base is larger than the memory the run may use, so
  // its pages are not counted resident. The OS page cache keeps what fits and reads the rest from
  // disk each step. Not layout; only the planner reads it.
  bool stream_base = false;
  // The arithmetic of the frozen base's products (`train --compute-dtype`): fp32, or bf16 dot
  // products accumulating in fp32 (trainer/quant/bf16_gemm.h). Not layout (the bf16 tiles use the
  // same panel); carried into checkpoints.
  quant::ComputeDtype compute_dtype = quant::ComputeDtype::kF32;
  // Not layout, carried with the shape into checkpoints: the lowest rank a governor may shrink the
  // adapters to (0 = 1), and the identity of the frozen base (its source checkpoint's checksum), so
  // that an adapter is only ever applied to the base it was trained on.
  int rank_floor = 0;
  std::string base_id;
};

}  // namespace trainer
