// Linear: dispatch between the plain fp32 product (the engine's matmul kernels), the dequant-matmul
// of a frozen quantized base, and the LoRA adapter added on top.
#include "trainer/layers/linear.h"

#include <omp.h>

#include "common/check.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layers/layer.h"
#include "trainer/quant/weight_matmul.h"

namespace trainer {

Linear Linear::plain(const float* weight, float* grad, int64_t out, int64_t in) {
  CHECK(weight != nullptr && out > 0 && in > 0);
  Linear l;
  l.weight_ = weight;
  l.grad_ = grad;
  l.out_ = out;
  l.in_ = in;
  return l;
}

float* ScratchSlots::current() const {
  const int slot = omp_in_parallel() ? omp_get_thread_num() : 0;
  CHECK_MSG(slot < count, "a linear map ran on a thread without a scratch slot");
  return base + slot * stride;
}

Linear Linear::quantized(const QuantView& base, ScratchSlots panel, quant::ComputeDtype compute) {
  CHECK(base.bytes != nullptr);
  Linear l;
  l.quant_ = weight_matrix(base);
  const int64_t need = static_cast<int64_t>(quant::weight_matmul_scratch_floats(l.quant_));
  CHECK(need == 0 || (panel.base != nullptr && panel.stride >= need && panel.count >= 1));
  l.panel_ = panel;
  l.compute_ = compute;
  l.out_ = base.layout.rows;
  l.in_ = base.layout.cols;
  return l;
}

Linear Linear::mapped(const quant::WeightMatrix* base, int64_t out, int64_t in, ScratchSlots panel,
                      quant::ComputeDtype compute) {
  CHECK(base != nullptr && panel.base != nullptr && panel.stride >= quant::kWeightPanelFloats && panel.count >= 1);
  Linear l;
  l.mapped_ = base;
  l.panel_ = panel;
  l.compute_ = compute;
  l.out_ = out;
  l.in_ = in;
  return l;
}

Linear Linear::with_adapter(LoraTensors* adapter, float* u, ScratchSlots g) const {
  CHECK(adapter != nullptr && u != nullptr);  // g (backward scratch) is null in forward-only models
  CHECK(adapter->in == in_ && adapter->out == out_);
  Linear l = *this;
  l.adapter_ = adapter;
  l.u_ = u;
  l.g_ = g;
  return l;
}

void Linear::forward(float* out, const float* inp, int N, bool accumulate) const {
  if (is_quantized()) {
    CHECK_MSG(base().bytes != nullptr, "a mapped base was used before it was mapped");
    quant::weight_matmul_forward(out, inp, base(), N, panel_.current(), accumulate, compute_);
  } else {
    matmul_forward(out, inp, weight_, N, static_cast<int>(in_), static_cast<int>(out_), accumulate);
  }
  if (adapter_ != nullptr) lora_forward(out, u_, inp, *adapter_, N);
}

void Linear::backward(float* dinp, const float* dout, const float* inp, int N) const {
  if (is_quantized()) {
    if (dinp != nullptr) quant::weight_matmul_backward_input(dinp, dout, base(), N, panel_.current(), compute_);
  } else {
    matmul_backward(dinp, grad_, dout, inp, weight_, N, static_cast<int>(in_), static_cast<int>(out_));
  }
  if (adapter_ != nullptr) {
    CHECK(g_.base != nullptr);  // a forward-only model never runs backward
    lora_backward(dinp, *adapter_, dout, inp, u_, g_.current(), N);
  }
}

// The default binding of a linear weight: the plain fp32 tensor the layer listed (see layer.h).
Linear TensorBinding::linear(const std::string& local_name, int64_t out, int64_t in) const {
  return Linear::plain(f32(local_name), grad(local_name), out, in);
}

}  // namespace trainer
