// The LM head and its cross-entropy, forward and backward, at the size of issue 19's llama-shaped
// model (E 384, GPT-2 vocabulary 50,257, N = B*T = 256 tokens) and at Qwen2.5-0.5B's (E 896,
// V 151,936): the whole-logits path the engine used before (one (N, V) product, softmax, loss, the
// logits' gradient in place, two products back) against the fused path of trainer/lm_head.h at
// several chunk sizes (0 = auto, as training runs it). Each reports matmul GFLOP/s (6·N·E·V per
// iteration) against the sgemm peak and the bytes of logits it holds (`logit_MiB`). Before timing,
// the fused gradient is checked against the whole path's. BM_ModelStep times a whole training
// micro-step (forward_train + backward) of that llama-shaped model (d 384, 6 layers of 6 heads,
// SwiGLU 1536, untied; B 1, T 256) with the head whole (chunk -1) and fused (auto), in tokens/s.
//
//   build-dir/bench/lm_head_bench [--benchmark_filter=REGEX]
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_limits.h"
#include "trainer/kernels/kernels.h"
#include "trainer/layout.h"
#include "trainer/lm_head.h"
#include "trainer/model.h"

namespace {

using benchdata::randn;

struct HeadCase {
  int N, E, V;
  std::vector<float> hidden, head, dhidden, dhead;
  std::vector<int32_t> targets;
  HeadCase(int n, int e, int v)
      : N(n), E(e), V(v), hidden(randn(int64_t{n} * e, 1.0f, 1)), head(randn(int64_t{v} * e, 0.05f, 2)),
        dhidden(int64_t{n} * e), dhead(int64_t{v} * e) {
    for (int i = 0; i < n; ++i) targets.push_back(static_cast<int32_t>((i * 7919) % v));
  }
};

void whole(HeadCase& h, std::vector<float>& logits, std::vector<float>& lse) {
  const float scale = 1.0f / static_cast<float>(h.N);
  trainer::matmul_forward(logits.data(), h.hidden.data(), h.head.data(), h.N, h.E, h.V, false);
  benchmark::DoNotOptimize(trainer::crossentropy_forward(lse.data(), logits.data(), h.targets.data(), h.N, h.V));
  trainer::crossentropy_backward_inplace(logits.data(), lse.data(), h.targets.data(), h.N, h.V, scale);
  trainer::zero_floats(h.dhidden.data(), int64_t{h.N} * h.E);
  trainer::matmul_backward(h.dhidden.data(), h.dhead.data(), logits.data(), h.hidden.data(), h.head.data(), h.N,
                           h.E, h.V);
}

struct ChunkBuffers {
  std::vector<float> rows, logits, lse, drows;
  std::vector<int32_t> index, targets;
  trainer::LmHeadChunk chunk;
  ChunkBuffers(int C, int E, int V)
      : rows(int64_t{C} * E), logits(int64_t{C} * V), lse(C), drows(int64_t{C} * E), index(C), targets(C) {
    chunk = {rows.data(), logits.data(), lse.data(), index.data(), targets.data(), drows.data(), C};
  }
};

void fused(HeadCase& h, ChunkBuffers& b) {
  benchmark::DoNotOptimize(trainer::lm_head_cross_entropy(b.chunk, h.hidden.data(), h.head.data(), h.targets.data(),
                                                          h.N, h.E, h.V, 1.0f / static_cast<float>(h.N),
                                                          h.dhidden.data(), h.dhead.data()));
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0.0, n = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    n += double(b[i]) * b[i];
  }
  return std::sqrt(d / std::max(n, 1e-300));
}

HeadCase& shape(int which) {
  static HeadCase gpt2(256, 384, 50257);
  static HeadCase qwen(256, 896, 151936);
  return which == 0 ? gpt2 : qwen;
}

void BM_HeadWhole(benchmark::State& s) {
  HeadCase& h = shape(static_cast<int>(s.range(0)));
  std::vector<float> logits(int64_t{h.N} * h.V), lse(h.N);
  for (auto _ : s) whole(h, logits, lse);
  benchlimits::report_flops(s, 6.0 * h.N * h.E * h.V);
  s.counters["logit_MiB"] = double(logits.size()) * 4 / (1 << 20);
}

void BM_HeadFused(benchmark::State& s) {
  HeadCase& h = shape(static_cast<int>(s.range(0)));
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = h.N;
  shape.head_chunk = s.range(1) > 0 ? static_cast<int>(s.range(1)) : trainer::kHeadChunkAuto;
  const int C = trainer::head_chunk_rows(shape, h.V);
  ChunkBuffers b(C, h.E, h.V);
  // Checked once against the whole path before timing.
  std::vector<float> logits(int64_t{h.N} * h.V), lse(h.N);
  std::fill(h.dhead.begin(), h.dhead.end(), 0.0f);
  whole(h, logits, lse);
  const std::vector<float> want_dx = h.dhidden, want_dw = h.dhead;
  std::fill(h.dhead.begin(), h.dhead.end(), 0.0f);
  fused(h, b);
  const double ex = rel_diff(h.dhidden, want_dx), ew = rel_diff(h.dhead, want_dw);
  if (ex > 1e-5 || ew > 1e-5) {
    s.SkipWithError("fused gradient differs from the whole path's");
    return;
  }
  for (auto _ : s) fused(h, b);
  benchlimits::report_flops(s, 6.0 * h.N * h.E * h.V);
  s.counters["chunk"] = C;
  s.counters["logit_MiB"] = double(b.logits.size()) * 4 / (1 << 20);
}

void BM_ModelStep(benchmark::State& s) {
  trainer::ModelConfig c;
  c.name = "llama-d384";
  c.vocab_size = 50257;
  c.d_model = 384;
  c.tied_embedding = false;
  c.init_std = 0.02f;
  for (int i = 0; i < 6; ++i) c.blocks.push_back({{trainer::LayerKind::kAttn, trainer::LayerKind::kMlp}});
  c.attn.n_heads = 6;
  c.attn.n_kv_heads = 6;
  c.mlp.d_ff = 1536;
  trainer::RunShape shape;
  shape.batch = 1;
  shape.seq_len = 256;
  shape.head_chunk = s.range(0) < 0 ? 0 : trainer::kHeadChunkAuto;
  auto m = trainer::Model::create(c, shape);
  if (!m.ok()) {
    s.SkipWithError(m.status().to_string().c_str());
    return;
  }
  (*m)->init_weights(1);
  const int N = 256;
  std::vector<int32_t> inputs(N), targets(N);
  for (int i = 0; i < N; ++i) {
    inputs[i] = static_cast<int32_t>((i * 104729) % c.vocab_size);
    targets[i] = static_cast<int32_t>((i * 7919 + 3) % c.vocab_size);
  }
  const float scale = 1.0f / N;
  for (auto _ : s) {
    (*m)->zero_grad();
    benchmark::DoNotOptimize((*m)->forward_train(inputs.data(), targets.data(), nullptr, scale));
    (*m)->backward_scaled(scale, 1.0f);
  }
  s.counters["tok/s"] = benchmark::Counter(double(N) * s.iterations(), benchmark::Counter::kIsRate);
  benchlimits::report_flops(s, 3.0 * (*m)->forward_flops());
}

BENCHMARK(BM_ModelStep)->ArgName("chunk")->Arg(-1)->Arg(0)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_HeadWhole)->ArgName("qwen")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HeadFused)
    ->ArgNames({"qwen", "chunk"})
    ->ArgsProduct({{0, 1}, {0, 32, 64, 128, 256}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) { return benchlimits::run_main(argc, argv); }
