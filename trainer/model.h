// Model: a ModelConfig made runnable for one fixed RunShape. Owns the arenas (TensorStore) sized by
// list_run_tensors and the sub-layer objects; runs the whole forward (embedding, [bridge_in],
// pre-norm residual sub-layers, final norm, [bridge_out], LM head, cross-entropy) and the whole
// backward, with optional per-block gradient checkpointing. It does not know about optimizers, data
// or files (trainer/optimizer.h, trainer/trainer.h, trainer/formats/checkpoint.h). Not thread-safe: one
// caller drives it; the kernels use the OpenMP pool internally.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "trainer/arena.h"
#include "trainer/layers/layer.h"
#include "trainer/layout.h"
#include "trainer/lm_head.h"
#include "trainer/lora/registry.h"
#include "trainer/model_config.h"
#include "trainer/run_plan.h"

namespace trainer {

// A trainable weight with its gradient and AdamW moments (the latter null when not training).
struct ParamRef {
  const TensorSpec* spec = nullptr;  // the weight's spec (name, shape, decay)
  float* weight = nullptr;
  float* grad = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  int64_t numel = 0;
};

class Model {
 public:
  // Lists the run's tensors, allocates the arenas (zeroed) and binds the sub-layers. Weights are
  // zero until init_weights or a checkpoint load. Errors as list_run_tensors, or ResourceExhausted.
  static common::Result<std::unique_ptr<Model>> create(const ModelConfig& config, const RunShape& shape);
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const ModelConfig& config() const { return config_; }
  const RunShape& shape() const { return shape_; }
  int batch() const { return shape_.batch; }
  int seq_len() const { return shape_.seq_len; }

  // normal(0, init_std) for matrices, ones for norms, the layer's rule for kCustom; deterministic.
  void init_weights(uint64_t seed);

  // inputs, targets: (B, T) token ids (copied in). targets may be null: logits only, returns 0.
  // Otherwise returns the loss: the mean cross-entropy over the trained targets (a target < 0,
  // kIgnoreTarget, carries no loss; none trained: 0) + aux_loss_weight * sum of the layers' aux losses.
  // Input ids out of [0, V) and targets >= V are a programming error (the dataset guarantees them).
  // positions: (B, T) or null. Null: every row is one document at positions 0 .. T-1. Otherwise packed
  // rows (BatchSource::next_packed): a document starts at a row's first token and wherever the
  // position is 0; a token sees only the earlier tokens of its own document (attention mask, SSM
  // state and conv history restart), and RoPE rotates by the given positions. (A document whose
  // positions reach T or more, one that began in an earlier row, is rotated by its positions
  // relative to its first token in the row: attention scores depend only on position differences,
  // so that is the same attention.)
  // With a head chunk (RunShape::head_chunk) the loss is taken chunk by chunk and no logits are kept,
  // so targets must be given.
  float forward(const int32_t* inputs, const int32_t* targets, const int32_t* positions = nullptr);
  // The forward of a training step whose backward_scaled(ce_sum_scale, ...) follows. With a head chunk
  // it also takes the LM head's gradient (scaled by ce_sum_scale) while each chunk's logits are at
  // hand; without one it is forward.
  float forward_train(const int32_t* inputs, const int32_t* targets, const int32_t* positions,
                      float ce_sum_scale);
  // Accumulates d(loss_scale * loss)/d(weight) into every gradient (for the last forward, which must
  // have had targets). Destroys the logits (reused as their gradient). With a head chunk, the forward
  // must have been forward_train with ce_sum_scale = loss_scale / last_trained_tokens().
  void backward(float loss_scale);
  // The same with the two parts scaled apart: d(ce_sum_scale * Σ cross-entropy over the trained
  // targets + aux_scale * aux_loss_weight * aux)/d(weight). backward(s) is
  // backward_scaled(s / last_trained_tokens(), s) (0 when nothing was trained). Gradient
  // accumulation uses it to make a step the mean over all the step's trained tokens.
  void backward_scaled(float ce_sum_scale, float aux_scale);
  void zero_grad();

  float last_ce_loss() const { return ce_loss_; }
  // Σ cross-entropy over the trained targets of the last forward, and how many targets were trained.
  double last_ce_sum() const { return ce_sum_; }
  int64_t last_trained_tokens() const { return trained_tokens_; }
  float last_aux_loss() const { return aux_loss_; }   // unweighted sum over layers
  float aux_loss_weight() const { return aux_weight_; }  // of the loss (0 without MoE)
  // (B, T, V), valid after forward until backward; null with a head chunk.
  const float* logits() const { return head_chunk_.capacity > 0 ? nullptr : logits_; }

  TensorStore& tensors() { return *store_; }
  const TensorStore& tensors() const { return *store_; }
  // Trainable weights in layout order.
  const std::vector<ParamRef>& params() const { return params_; }
  // The adapters of a lora/qlora model (null in full mode).
  LoraRegistry* lora() { return lora_.get(); }
  const LoraRegistry* lora() const { return lora_.get(); }
  int64_t num_params() const;
  // FLOPs of one forward over a micro-batch (matmul-class work); a training step is ~3x this
  // (4x with gradient checkpointing).
  double forward_flops() const;

 private:
  Model() = default;
  void run_sublayer_forward(int s);
  void set_rows(const int32_t* positions);
  void recompute_block(int block);

  ModelConfig config_;
  RunShape shape_;
  RunPlan plan_;
  std::unique_ptr<TensorStore> store_;
  std::vector<ParamRef> params_;
  std::unique_ptr<LoraRegistry> lora_;
  bool shared_internals_ = false;
  float aux_weight_ = 0.0f;
  float ce_loss_ = 0.0f;
  double ce_sum_ = 0.0;
  int64_t trained_tokens_ = 0;
  float aux_loss_ = 0.0f;
  bool have_targets_ = false;
  LmHeadChunk head_chunk_;        // capacity 0: the whole logits are kept
  bool head_grad_wanted_ = false; // inside forward_train
  bool head_grad_done_ = false;   // the last forward took the head's gradient ...
  float head_grad_scale_ = 0.0f;  // ... with this ce_sum_scale
  RowDocuments docs_;             // what the layers see of the rows' documents (null: unpacked)

  // Model-level views. Letters: B, T, D (d_model), E (embedding width), V; N = B*T.
  int32_t* tokens_ = nullptr;     // (B, T)
  int32_t* targets_ = nullptr;    // (B, T)
  int32_t* doc_start_ = nullptr;  // (B, T) packed rows: each token's document start in its row
  int32_t* rope_pos_ = nullptr;   // (B, T) packed rows: each token's RoPE position
  float* embed_ = nullptr;        // (V, E)
  float* dembed_ = nullptr;
  float* embed_out_ = nullptr;    // (B, T, E) only with a bridge
  float* bridge_in_ = nullptr;    // (D, E)
  float* dbridge_in_ = nullptr;
  float* bridge_out_ = nullptr;   // (E, D)
  float* dbridge_out_ = nullptr;
  float* bridge_act_ = nullptr;   // (B, T, E) final hidden after bridge_out
  float* head_ = nullptr;         // (V, E), = embed_ when tied
  float* dhead_ = nullptr;
  float* final_w_ = nullptr;      // (D)
  float* dfinal_w_ = nullptr;
  float* final_rstd_ = nullptr;   // (B, T)
  float* final_out_ = nullptr;    // (B, T, D)
  float* logits_ = nullptr;       // (B, T, V)
  float* lse_ = nullptr;          // (B, T)
  float* dres_ = nullptr;         // (B, T, D) scratch
  float* dxn_ = nullptr;          // (B, T, D) scratch
  float* dhead_in_ = nullptr;     // (B, T, E) scratch (= dxn_ without a bridge)

  struct SubLayerViews {
    float* norm_w = nullptr;      // (D)
    float* dnorm_w = nullptr;
    float* rstd = nullptr;        // (B, T)
    float* xn = nullptr;          // (B, T, D)
    float* res_in = nullptr;      // (B, T, D)
    float* res_out = nullptr;     // (B, T, D)
  };
  std::vector<SubLayerViews> views_;
};

}  // namespace trainer
