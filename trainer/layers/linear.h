// Linear: one linear map y = x·Wᵀ of a sub-layer, as the layers call it. W (Out, In) is either a
// plain fp32 weight (trainable when it has a gradient, else frozen) or a frozen base stored in a
// type of the weight type table (dequantized panel by panel, trainer/quant/weight_matmul.h); either may carry a LoRA
// adapter (trainer/lora/adapter.h) whose output is added. A non-owning value: every pointer is
// arena memory bound once by the model. Letters: N rows (= B·T, or the rows routed to an expert).
#pragma once

#include <cstdint>

#include "trainer/lora/adapter.h"
#include "trainer/quant/format.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer {

// Per-thread working memory: `count` slots of `stride` floats from `base`. A map run inside an
// OpenMP parallel region (experts side by side) uses its thread's slot; elsewhere slot 0.
struct ScratchSlots {
  float* base = nullptr;
  int64_t stride = 0;
  int count = 1;
  float* current() const;  // CHECK-fails when the thread has no slot
};

class Linear {
 public:
  Linear() = default;
  // A plain fp32 weight (Out, In); `grad` null when it is frozen.
  static Linear plain(const float* weight, float* grad, int64_t out, int64_t in);
  // A frozen base in any QuantFormat (F32 included) with panels of at least
  // quant::weight_matmul_scratch_floats floats each; its products computed in `compute`.
  static Linear quantized(const QuantView& base, ScratchSlots panel,
                          quant::ComputeDtype compute = quant::ComputeDtype::kF32);
  // A frozen base in a type of the weight type table, read where it lies (a memory-mapped model
  // file). `base` is owned by the model's LoraRegistry and set after binding (LoraRegistry::map_base);
  // panels of quant::kWeightPanelFloats floats each.
  static Linear mapped(const quant::WeightMatrix* base, int64_t out, int64_t in, ScratchSlots panel,
                       quant::ComputeDtype compute = quant::ComputeDtype::kF32);
  // Adds an adapter: `adapter` (owned by the model's LoraRegistry, so rank changes are seen here),
  // `u` the saved x·Aᵀ (N_max, rank_max) and `g` backward scratch slots of (N_max, rank_max) each
  // (base null in forward-only models).
  Linear with_adapter(LoraTensors* adapter, float* u, ScratchSlots g) const;

  int64_t in() const { return in_; }
  int64_t out() const { return out_; }
  bool has_adapter() const { return adapter_ != nullptr; }
  bool is_quantized() const { return quant_.bytes != nullptr || mapped_ != nullptr; }

  // out (N, Out) = inp (N, In) · Wᵀ [+ out when accumulate] [+ adapter(inp)]. Saves u for backward.
  void forward(float* out, const float* inp, int N, bool accumulate) const;
  // dinp (N, In) += dout · W [+ the adapter's part] (skipped when dinp is null); the weight's
  // gradient += doutᵀ · inp when it is trainable; the adapter's gradients accumulate. The frozen
  // base never receives a gradient. Needs the inp of the matching forward.
  void backward(float* dinp, const float* dout, const float* inp, int N) const;

 private:
  // The frozen base the dequantizing matmul reads (mapped or in the arena).
  const quant::WeightMatrix& base() const { return mapped_ != nullptr ? *mapped_ : quant_; }

  int64_t in_ = 0, out_ = 0;
  const float* weight_ = nullptr;  // plain fp32 (Out, In)
  float* grad_ = nullptr;          // (Out, In) or null (frozen)
  quant::WeightMatrix quant_{};    // quantized base (bytes null when plain)
  const quant::WeightMatrix* mapped_ = nullptr;  // mapped base (null unless Linear::mapped)
  ScratchSlots panel_;             // dequantization panels
  quant::ComputeDtype compute_ = quant::ComputeDtype::kF32;  // of the frozen base's products
  LoraTensors* adapter_ = nullptr;
  float* u_ = nullptr;             // (N, rank) saved by forward
  ScratchSlots g_;                 // (N, rank) backward scratch
};

}  // namespace trainer
