// Layer: the interface every sub-layer kind implements (attn, mlp; ssm and moe plug in the same way),
// and the factory keyed by LayerKind. The model owns the pre-norm and the residual around each
// sub-layer: it computes xn = rmsnorm(x) * norm_weight, calls forward(out, xn) with out holding x
// (so out = x + layer(xn)), and in backward hands the layer dout = dL/d(out) and gets dL/d(xn).
// A layer does not allocate: it lists its tensors, and the model binds arena memory to them once.
//
// A kind registers its Layer together with everything else about it in trainer/layers/kind.h.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/layout.h"
#include "trainer/layers/linear.h"
#include "trainer/model_config.h"
#include "trainer/rng.h"

namespace trainer {

// The fixed shape a layer is built for. Letters: B batch, T sequence (see model_config.h).
struct LayerShape {
  int batch = 1;        // B
  int seq_len = 1;      // T
  int max_threads = 1;  // per-thread scratch may be listed with this leading dimension
  bool training = true; // false: forward only; backward is never called and scratch is not listed
};

// Memory for the tensors a layer listed, by the layer's local names ("q.weight", "q", "dq").
// Given to Layer::bind once, after the arenas are allocated; pointers stay valid for the model's life.
class TensorBinding {
 public:
  virtual ~TensorBinding() = default;
  // A tensor the layer listed (any role). CHECK-fails on a name the layer did not list.
  virtual float* f32(const std::string& local_name) const = 0;
  // dL/d(weight) for a weight the layer listed; nullptr when not training or the weight is frozen.
  virtual float* grad(const std::string& local_name) const = 0;
  // The shape of a tensor bound here (any role); CHECK-fails on an unknown name.
  virtual std::vector<int64_t> shape(const std::string& local_name) const = 0;
  // A weight the layer applies as a linear map y = x·Wᵀ (listed with TensorSpec::linear), (out, in).
  // The default binds the plain fp32 weight and its gradient; in lora/qlora runs the model binds the
  // frozen, possibly quantized base with its adapter (trainer/layers/linear.h).
  virtual Linear linear(const std::string& local_name, int64_t out, int64_t in) const;
};

// Where the documents of a packed micro-batch lie (BatchSource::next_packed, trainer/trainer.h). The
// model owns one, refills it before every forward, and hands layers a pointer to it once. Both
// arrays are null for unpacked rows (one document per row, positions 0 .. T-1).
struct RowDocuments {
  // (B, T): the index within its row of the first token of each token's document. Non-decreasing
  // along a row, <= t, 0 at t = 0; a document starts where doc_start[t] == t.
  const int32_t* doc_start = nullptr;
  // (B, T): the position RoPE rotates each token by, in [0, T).
  const int32_t* rope_pos = nullptr;
};

class Layer {
 public:
  virtual ~Layer() = default;
  virtual LayerKind kind() const = 0;

  // Layers whose output at a token depends on other tokens (attention, the SSM's conv and scan) keep
  // `docs` and honour it in forward and backward; per-token layers ignore it. Called once, after bind.
  virtual void set_documents(const RowDocuments* docs) { (void)docs; }

  // Appends this layer's tensors with LOCAL names (no "blocks.{i}.{kind}." prefix):
  //   kWeight      parameters, named as in docs/model.md after the prefix ("q.weight"); set `init`
  //                and `decay` (2-D ".weight" tensors decay; norms, biases, A_log, D and
  //                ssm conv.weight do not). The model derives gradients and AdamW moments.
  //   kActivation  what forward writes and backward reads, per instance (or shared by all blocks of
  //                one spec under gradient checkpointing: forward is then simply re-run).
  //   kScratch     backward working memory; ONE set per layer kind, shared by all its instances,
  //                so list it with the same shapes from every instance. Not listed when !training.
  virtual void list_tensors(std::vector<TensorSpec>* out) const = 0;

  // Receives memory for everything list_tensors named. Called once.
  virtual void bind(const TensorBinding& tensors) = 0;

  // Fills a weight listed with TensorInit::kCustom. Called once per such weight, in list order.
  virtual void init_custom(const std::string& local_name, float* data, int64_t numel, Rng& rng) const;

  // out (B, T, D) += layer(xn); xn (B, T, D) is the normalised input. Saves activations for backward.
  // Also the recompute step of gradient checkpointing (called again with the same xn).
  virtual void forward(float* out, const float* xn) = 0;

  // Given dout = dL/d(out) (B, T, D) and the xn of the matching forward:
  //   dxn (B, T, D) += dL/d(xn); every weight gradient += dL/d(weight).
  // aux_grad_scale is dL/d(aux_loss()) for this micro-batch (0 for layers without an aux loss).
  virtual void backward(float* dxn, const float* dout, const float* xn, float aux_grad_scale) = 0;

  // Auxiliary loss of the last forward, unweighted (the moe load-balancing loss); 0 by default.
  virtual float aux_loss() const { return 0.0f; }

  // Matmul-class FLOPs of one forward over (B, T) (for model-FLOPs utilisation; backward = 2x).
  virtual double forward_flops() const = 0;
};

// Builds a layer of `kind` (its registered LayerKindInfo::make).
common::Result<std::unique_ptr<Layer>> make_layer(LayerKind kind, const ModelConfig& config,
                                                  const LayerShape& shape);

}  // namespace trainer
