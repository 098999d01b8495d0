// read_rope_freqs (rope_freqs.h).
#include "trainer/arch/rope_freqs.h"

#include <cmath>
#include <vector>

#include "trainer/arch/architecture.h"
#include "trainer/kernels/kernels.h"

namespace trainer {

namespace {

// The factor llama.cpp's converter writes for pair i under `s`: unscaled / scaled inverse frequency.
double factor_of(int i, int dh, float theta, const RopeScaling& s) {
  return rope_inv_freq(i, dh, theta) / rope_inv_freq(i, dh, theta, s);
}

bool reproduces(const std::vector<float>& f, int dh, float theta, const RopeScaling& s) {
  for (size_t i = 0; i < f.size(); ++i) {
    if (std::fabs(factor_of(static_cast<int>(i), dh, theta, s) - f[i]) > 1e-4 * f[i]) return false;
  }
  return true;
}

}  // namespace

common::Status read_rope_freqs(const formats::GgufFile& file, ModelConfig* c) {
  const formats::GgufTensor* t = file.find_tensor("rope_freqs.weight");
  if (t == nullptr) return common::Status::Ok();
  const int dh = c->head_dim();
  if (t->elements() != dh / 2)
    return common::Status::InvalidArgument(file.path() + ": rope_freqs.weight has " + std::to_string(t->elements()) +
                                           " factors, head_dim " + std::to_string(dh) + " needs " +
                                           std::to_string(dh / 2));
  std::vector<float> f(static_cast<size_t>(dh / 2));
  t->traits->decode_row(t->data, f.data(), static_cast<int64_t>(f.size()));
  double factor = 1;
  for (float x : f) factor = std::max(factor, static_cast<double>(x));
  if (factor <= 1 + 1e-6) return common::Status::Ok();
  const float theta = c->attn.rope_theta;
  // Pairs strictly between the two plateaus give s_i = A / wavelength_i + B.
  std::vector<std::pair<double, double>> smooth;  // (1 / wavelength, s)
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] > 1 + 1e-4 && f[i] < factor * (1 - 1e-4)) {
      const double inv_wavelen = rope_inv_freq(static_cast<int>(i), dh, theta) / (2 * M_PI);
      smooth.push_back({inv_wavelen, (1 / f[i] - 1 / factor) / (1 - 1 / factor)});
    }
  }
  std::vector<RopeScaling> candidates;
  if (smooth.size() >= 2) {
    const auto& [x1, s1] = smooth.front();
    const auto& [x2, s2] = smooth.back();
    const double a = (s2 - s1) / (x2 - x1), b = s1 - a * x1;
    // s = (orig / wavelength - low) / (high - low): with low = 1 (any low gives the same factors),
    // high - low = -1 / b and orig = -a / b.
    if (b < 0 && a > 0) candidates.push_back({static_cast<float>(factor), 1.0f, static_cast<float>(1 - 1 / b),
                                              static_cast<int>(std::lround(-a / b))});
  }
  // Few pairs in between: the parameters every Llama 3.x release uses, or the file's context key.
  candidates.push_back({static_cast<float>(factor), 1.0f, 4.0f, 8192});
  NS_ASSIGN_OR_RETURN(int64_t orig, gguf_arch_int(file, "rope.scaling.original_context_length", 0));
  if (orig > 0) candidates.push_back({static_cast<float>(factor), 1.0f, 4.0f, static_cast<int>(orig)});
  for (const RopeScaling& s : candidates) {
    if (!reproduces(f, dh, theta, s)) continue;
    c->attn.rope_scale_factor = s.factor;
    c->attn.rope_low_freq_factor = s.low_freq_factor;
    c->attn.rope_high_freq_factor = s.high_freq_factor;
    c->attn.rope_original_context = s.original_context;
    return common::Status::Ok();
  }
  return common::Status::InvalidArgument(file.path() + ": rope_freqs.weight holds factors that are not Llama 3.1's "
                                         "RoPE scaling rule");
}

}  // namespace trainer
