// The MoE sub-layer (see moe_block.h). Routing, dispatch and combine are in moe_routing.cpp; the
// pointwise parts here are OpenMP loops over assignment rows; every matrix product is one Linear
// (sgemm) per expert and projection over that expert's contiguous group of rows, so OpenBLAS sees
// a few medium products, not M·k tiny ones.
#pragma GCC optimize("no-trapping-math")  // lets fast_expf vectorize (see ssm_scan.cpp)

#include "trainer/layers/moe_block.h"

#include <cstring>

#include "trainer/model_config.h"
#include "trainer/layers/moe_routing.h"
#include "trainer/kernels/simd_math.h"

namespace trainer {
namespace {

// h = silu(g) ⊙ u over n elements.
void swiglu_act(float* h, const float* g, const float* u, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) h[i] = fast_siluf(g[i]) * u[i];
}

// dg = dh ⊙ u ⊙ silu'(g), du = dh ⊙ silu(g) (overwrite).
void swiglu_act_backward(float* dg, float* du, const float* dh, const float* g, const float* u, std::size_t n) {
#pragma omp parallel for simd schedule(static)
  for (std::size_t i = 0; i < n; ++i) {
    const float sg = fast_sigmoidf(g[i]);  // silu = g·σ(g), silu' = σ(g)·(1 + g·(1 − σ(g)))
    dg[i] = dh[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));
    du[i] = dh[i] * g[i] * sg;
  }
}

// One SwiGLU over `rows` contiguous rows: out (rows, D) (+)= down(h), saving gate/up/h (rows, F).
void swiglu_forward(float* out, bool accumulate, float* hg, float* hu, float* h, const float* x,
                    const SwigluLinears& w, int rows, int F) {
  w.gate.forward(hg, x, rows, false);
  w.up.forward(hu, x, rows, false);
  swiglu_act(h, hg, hu, static_cast<std::size_t>(rows) * F);
  w.down.forward(out, h, rows, accumulate);
}

// Backward of swiglu_forward: dx (rows, D) += d(x) (skipped when null); gradients accumulate.
void swiglu_backward(float* dx, const float* dout, const float* x, const float* hg, const float* hu,
                     const float* h, const SwigluLinears& w, float* dh, float* dhg, float* dhu, int rows, int F) {
  const std::size_t n = static_cast<std::size_t>(rows) * F;
  std::memset(dh, 0, sizeof(float) * n);
  w.down.backward(dh, dout, h, rows);
  swiglu_act_backward(dhg, dhu, dh, hg, hu, n);
  w.gate.backward(dx, dhg, x, rows);
  w.up.backward(dx, dhu, x, rows);
}

template <typename Spec>
std::size_t point_all(void** fields[], const std::vector<Spec>& specs, float* base) {
  std::size_t used = 0;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    *fields[i] = base + used;
    used += specs[i].elems;
  }
  return used;
}

}  // namespace

MoeDims moe_dims(const ModelConfig& c, int tokens) {
  MoeDims d;
  d.M = tokens;
  d.D = c.d_model;
  d.X = c.moe.n_experts;
  d.k = c.moe.top_k;
  d.Fe = c.expert_dim();
  d.Fs = c.moe.shared_expert ? c.shared_dim() : 0;
  d.renormalize = c.moe.renormalize;
  return d;
}

std::vector<MoeBufferSpec> moe_param_specs(const MoeDims& d) {
  std::vector<MoeBufferSpec> out;
  const std::size_t D = d.D, Fe = d.Fe, Fs = d.Fs;
  out.push_back({"router.weight", static_cast<std::size_t>(d.X) * D});
  // Names are built by the layer ("experts.{e}.gate.weight"); sizes here in the same order.
  for (int e = 0; e < d.X; ++e) {
    out.push_back({"experts.gate.weight", Fe * D});
    out.push_back({"experts.up.weight", Fe * D});
    out.push_back({"experts.down.weight", D * Fe});
  }
  if (Fs > 0) {
    out.push_back({"shared.gate.weight", Fs * D});
    out.push_back({"shared.up.weight", Fs * D});
    out.push_back({"shared.down.weight", D * Fs});
  }
  return out;
}

std::vector<MoeBufferSpec> moe_activation_specs(const MoeDims& d) {
  const std::size_t M = d.M, A = d.assignments(), D = d.D, Fe = d.Fe, Fs = d.Fs;
  return {{"probs", M * d.X},        {"topk", M * d.k, true},     {"gates", M * d.k},
          {"slot_row", A, true},     {"row_token", A, true},      {"offset", static_cast<std::size_t>(d.X) + 1, true},
          {"xg", A * D},             {"h_gate", A * Fe},          {"h_up", A * Fe},
          {"h", A * Fe},             {"y", A * D},                {"s_gate", M * Fs},
          {"s_up", M * Fs},          {"s_h", M * Fs}};
}

std::vector<MoeBufferSpec> moe_scratch_specs(const MoeDims& d) {
  const std::size_t M = d.M, A = d.assignments(), D = d.D, Fe = d.Fe, Fs = d.Fs;
  return {{"dy", A * D},       {"dh", A * Fe},      {"dh_gate", A * Fe}, {"dh_up", A * Fe},
          {"dxg", A * D},      {"dprobs", M * d.X}, {"dgates", M * d.k}, {"ds_h", M * Fs},
          {"ds_gate", M * Fs}, {"ds_up", M * Fs}};
}

std::size_t moe_point_params(MoeParams* p, float* base, const MoeDims& d) {
  std::size_t used = 0;
  auto take = [&](std::size_t n) {
    float* q = base + used;
    used += n;
    return q;
  };
  const std::size_t D = d.D, Fe = d.Fe, Fs = d.Fs;
  p->router = take(static_cast<std::size_t>(d.X) * D);
  p->experts.assign(d.X, SwigluParams{});
  for (SwigluParams& e : p->experts) {
    e.gate = take(Fe * D);
    e.up = take(Fe * D);
    e.down = take(D * Fe);
  }
  p->shared = SwigluParams{};
  if (Fs > 0) {
    p->shared.gate = take(Fs * D);
    p->shared.up = take(Fs * D);
    p->shared.down = take(D * Fs);
  }
  return used;
}

std::size_t moe_point_activations(MoeActivations* a, float* base, const MoeDims& d) {
  void** fields[] = {(void**)&a->probs,  (void**)&a->topk,      (void**)&a->gates,
                     (void**)&a->slot_row, (void**)&a->row_token, (void**)&a->offset,
                     (void**)&a->xg,     (void**)&a->h_gate,    (void**)&a->h_up,
                     (void**)&a->h,      (void**)&a->y,         (void**)&a->s_gate,
                     (void**)&a->s_up,   (void**)&a->s_h};
  return point_all(fields, moe_activation_specs(d), base);
}

std::size_t moe_point_scratch(MoeScratch* s, float* base, const MoeDims& d) {
  void** fields[] = {(void**)&s->dy,     (void**)&s->dh,     (void**)&s->dh_gate, (void**)&s->dh_up,
                     (void**)&s->dxg,    (void**)&s->dprobs, (void**)&s->dgates,  (void**)&s->ds_h,
                     (void**)&s->ds_gate, (void**)&s->ds_up};
  return point_all(fields, moe_scratch_specs(d), base);
}

MoeWeights moe_weights_plain(const MoeParams& w, const MoeParams* g, const MoeDims& d) {
  auto swiglu = [&](const SwigluParams& p, const SwigluParams* gp, int F) {
    SwigluLinears l;
    l.gate = Linear::plain(p.gate, gp ? gp->gate : nullptr, F, d.D);
    l.up = Linear::plain(p.up, gp ? gp->up : nullptr, F, d.D);
    l.down = Linear::plain(p.down, gp ? gp->down : nullptr, d.D, F);
    return l;
  };
  MoeWeights m;
  m.router = Linear::plain(w.router, g ? g->router : nullptr, d.X, d.D);
  for (int e = 0; e < d.X; ++e) m.experts.push_back(swiglu(w.experts[e], g ? &g->experts[e] : nullptr, d.Fe));
  if (d.Fs > 0) m.shared = swiglu(w.shared, g ? &g->shared : nullptr, d.Fs);
  return m;
}

float moe_block_forward(float* out, const MoeActivations& a, const float* x, const MoeWeights& w,
                        const MoeDims& d) {
  const int M = d.M, D = d.D, X = d.X;
  const std::int32_t* off = a.offset;
  // Router: probs = softmax(x·routerᵀ); top-k, gates, grouping by expert; gather the rows.
  w.router.forward(a.probs, x, M, false);
  moe_route(a, d);
  moe_dispatch(a, x, d);
  // Experts: one product per projection over each expert's rows. They run side by side, one per
  // thread with a single-threaded sgemm each (every Linear has per-thread scratch slots): for small
  // experts this replaces dozens of short parallel products per step, each a wake-up of the other
  // threads, with one parallel loop.
#pragma omp parallel for schedule(dynamic, 1)
  for (int e = 0; e < X; ++e) {
    const int r0 = off[e], rows = off[e + 1] - off[e];
    if (rows == 0) continue;
    const std::size_t hf = static_cast<std::size_t>(r0) * d.Fe, hd = static_cast<std::size_t>(r0) * D;
    swiglu_forward(a.y + hd, false, a.h_gate + hf, a.h_up + hf, a.h + hf, a.xg + hd, w.experts[e], rows, d.Fe);
  }
  // Combine: out[m] += Σ_j gate_j · y[row_j].
  moe_combine(out, a, d);
  if (d.Fs > 0) swiglu_forward(out, true, a.s_gate, a.s_up, a.s_h, x, w.shared, M, d.Fs);
  return moe_aux_loss(a, d);
}

void moe_block_backward(float* dx, const float* dout, const float* x, float aux_grad,
                        const MoeActivations& a, const MoeWeights& w, const MoeScratch& s,
                        const MoeDims& d) {
  const int M = d.M, D = d.D, X = d.X;
  if (d.Fs > 0)
    swiglu_backward(dx, dout, x, a.s_gate, a.s_up, a.s_h, w.shared, s.ds_h, s.ds_gate, s.ds_up, M, d.Fs);
  // Through the combine: dgate = dout·y; dy[row] = gate·dout.
  moe_combine_backward(dout, a, s, d);
  // Experts, side by side as in the forward.
#pragma omp parallel for schedule(dynamic, 1)
  for (int e = 0; e < X; ++e) {
    const int r0 = a.offset[e], rows = a.offset[e + 1] - a.offset[e];
    if (rows == 0) continue;
    const std::size_t hf = static_cast<std::size_t>(r0) * d.Fe, hd = static_cast<std::size_t>(r0) * D;
    std::memset(s.dxg + hd, 0, sizeof(float) * rows * D);
    swiglu_backward(s.dxg + hd, s.dy + hd, a.xg + hd, a.h_gate + hf, a.h_up + hf, a.h + hf, w.experts[e],
                    s.dh + hf, s.dh_gate + hf, s.dh_up + hf, rows, d.Fe);
  }
  // Through the gates, the aux loss and the softmax: s.dprobs = d(logits).
  moe_route_backward(aux_grad, a, s, d);
  // Gather the experts' dx back to tokens.
  if (dx) moe_dispatch_backward(dx, a, s, d);
  // Router.
  w.router.backward(dx, s.dprobs, x, M);
}

double moe_block_forward_flops(const MoeDims& d) {
  const double M = d.M, D = d.D;
  return 2.0 * M * D * d.X + 2.0 * M * d.k * 3.0 * D * d.Fe + 2.0 * M * 3.0 * D * d.Fs;
}

void moe_expert_counts(const MoeActivations& act, const MoeDims& d, std::int64_t* counts) {
  for (int e = 0; e < d.X; ++e) counts[e] = act.offset[e + 1] - act.offset[e];
}

}  // namespace trainer
