// AdamW with decoupled weight decay and bias correction (Loshchilov & Hutter 2019; the update of
// torch.optim.AdamW), the learning-rate schedule (linear warmup, cosine decay to a floor), and
// global-norm gradient clipping (as torch.nn.utils.clip_grad_norm_). Stateless functions over the
// model's ParamRefs: the moments live in the model's arena, the step count in the Trainer.
#pragma once

#include <cstdint>
#include <vector>

#include "trainer/model.h"

namespace trainer {

struct AdamWConfig {
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;  // applied to params whose spec has decay = true
};

struct LrSchedule {
  float lr = 1e-3f;         // peak learning rate, reached at the end of warmup
  float min_lr = 1e-4f;     // floor of the cosine decay
  int64_t warmup_steps = 0; // linear ramp from lr/warmup to lr over these steps
  int64_t total_steps = 1;  // cosine decays from the end of warmup to min_lr at total_steps
};

// The learning rate of optimizer step `step` (0-based). After total_steps it stays at min_lr.
float lr_at(const LrSchedule& schedule, int64_t step);

// sqrt(Σ g²) over every gradient (accumulated in double).
double global_grad_norm(const std::vector<ParamRef>& params);

// The factor clip_grad_norm_ would scale the gradients by: min(1, max_norm / (norm + 1e-6));
// max_norm <= 0 disables clipping (returns 1).
float clip_factor(double grad_norm, float max_norm);

// One AdamW step for every param: g = grad * grad_scale;
//   w -= lr * wd * w (decoupled, only when spec->decay); m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
//   w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
// t is the 1-based step count. Requires grad, m and v (a training model).
void adamw_update(const std::vector<ParamRef>& params, const AdamWConfig& config, float lr, int64_t t,
                  float grad_scale);

}  // namespace trainer
