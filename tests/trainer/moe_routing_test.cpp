// Tests for trainer/moe_routing: each function alone against a naive reference. Routing: softmax,
// top-k order with ties to the lower index, renormalised gates, grouping stable in token order and
// its offsets. Dispatch and combine against direct loops; combine_backward and route_backward
// against finite differences of a scalar function of combine's output / of the gates and the aux
// loss; dispatch_backward as the adjoint of dispatch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "hybrid_fd_util.h"
#include "trainer/layers/moe_routing.h"

namespace {

using hybrid_test::dot;
using hybrid_test::expect_fd_gradient;
using hybrid_test::randn;

// Activations and scratch of a routing-only instance (experts of width 1: unused here).
struct Routing {
  trainer::MoeDims d;
  std::vector<float> abuf, sbuf;
  trainer::MoeActivations a;
  trainer::MoeScratch s;
  Routing(int M, int D, int X, int k) {
    d.M = M, d.D = D, d.X = X, d.k = k, d.Fe = 1, d.Fs = 0;
    abuf.assign(trainer::moe_point_activations(&a, nullptr, d), 0.0f);
    trainer::moe_point_activations(&a, abuf.data(), d);
    sbuf.assign(trainer::moe_point_scratch(&s, nullptr, d), 0.0f);
    trainer::moe_point_scratch(&s, sbuf.data(), d);
  }
  std::size_t rows() const { return static_cast<std::size_t>(d.assignments()); }
  void route(const std::vector<float>& logits) {
    std::copy(logits.begin(), logits.end(), a.probs);
    trainer::moe_route(a, d);
  }
};

// Logits (M, X) whose k-th and (k+1)-th largest entries of every row differ by at least `margin`.
std::vector<float> logits_with_margin(int M, int X, int k, float margin, std::uint64_t seed) {
  std::vector<float> l(static_cast<std::size_t>(M) * X);
  for (int m = 0; m < M; ++m) {
    for (;;) {
      const std::vector<float> r = randn(X, ++seed);
      std::vector<float> sorted = r;
      std::sort(sorted.begin(), sorted.end(), std::greater<>());
      if (k == X || sorted[k - 1] - sorted[k] >= margin) {
        std::copy(r.begin(), r.end(), l.begin() + static_cast<std::ptrdiff_t>(m) * X);
        break;
      }
    }
  }
  return l;
}

// Naive routing of one token in double: softmax, then experts by decreasing probability with ties
// to the lower index (stable sort of the indices).
void naive_route(const float* logit, int X, int k, std::vector<double>* p, std::vector<int>* top) {
  p->assign(X, 0.0);
  const double mx = *std::max_element(logit, logit + X);
  double sum = 0.0;
  for (int e = 0; e < X; ++e) sum += ((*p)[e] = std::exp(double(logit[e]) - mx));
  for (double& v : *p) v /= sum;
  std::vector<int> order(X);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return logit[i] > logit[j]; });
  top->assign(order.begin(), order.begin() + k);
}

void expect_routing_matches_naive(const Routing& r, const std::vector<float>& logits) {
  const auto& d = r.d;
  std::vector<int> count(d.X, 0);
  for (int m = 0; m < d.M; ++m) {
    std::vector<double> p;
    std::vector<int> top;
    naive_route(&logits[static_cast<std::size_t>(m) * d.X], d.X, d.k, &p, &top);
    for (int e = 0; e < d.X; ++e) EXPECT_NEAR(r.a.probs[m * d.X + e], p[e], 1e-6) << "token " << m;
    double S = 0.0;
    for (int j = 0; j < d.k; ++j) S += p[top[j]];
    for (int j = 0; j < d.k; ++j) {
      ASSERT_EQ(r.a.topk[m * d.k + j], top[j]) << "token " << m << " choice " << j;
      EXPECT_NEAR(r.a.gates[m * d.k + j], p[top[j]] / S, 1e-6) << "token " << m;
      ++count[top[j]];
    }
  }
  // Offsets are the running sums of the counts; each expert's rows hold its tokens in increasing
  // order; slot_row and row_token are inverse to each other.
  ASSERT_EQ(r.a.offset[0], 0);
  for (int e = 0; e < d.X; ++e) ASSERT_EQ(r.a.offset[e + 1] - r.a.offset[e], count[e]) << "expert " << e;
  for (int e = 0; e < d.X; ++e) {
    std::vector<int> want;
    for (int m = 0; m < d.M; ++m)
      for (int j = 0; j < d.k; ++j)
        if (r.a.topk[m * d.k + j] == e) want.push_back(m);
    const std::vector<int> got(r.a.row_token + r.a.offset[e], r.a.row_token + r.a.offset[e + 1]);
    EXPECT_EQ(got, want) << "tokens of expert " << e;
  }
  for (int m = 0; m < d.M; ++m) {
    for (int j = 0; j < d.k; ++j) {
      const int row = r.a.slot_row[m * d.k + j], e = r.a.topk[m * d.k + j];
      EXPECT_EQ(r.a.row_token[row], m);
      EXPECT_TRUE(row >= r.a.offset[e] && row < r.a.offset[e + 1]) << "row " << row << " outside expert " << e;
    }
  }
}

TEST(MoeRouting, RouteMatchesNaiveSoftmaxTopkAndGrouping) {
  for (const int k : {1, 2, 3}) {
    Routing r(37, 4, 5, k);
    const std::vector<float> logits = logits_with_margin(37, 5, k, 1e-3f, 10 + k);
    r.route(logits);
    SCOPED_TRACE("k = " + std::to_string(k));
    expect_routing_matches_naive(r, logits);
  }
}

TEST(MoeRouting, TiesGoToTheLowerIndex) {
  Routing r(4, 2, 4, 2);
  const std::vector<float> logits = {0, 0, 0, 0,    // all tied: experts 0, 1
                                     1, 3, 3, 0,    // tie at the top: 1 then 2
                                     5, 2, -1, 2,   // tie for second place: 0 then 1
                                     -1, -1, 4, -1};  // three-way tie for second: 2 then 0
  r.route(logits);
  const std::vector<int> want = {0, 1, 1, 2, 0, 1, 2, 0};
  EXPECT_EQ(std::vector<int>(r.a.topk, r.a.topk + 8), want);
  EXPECT_FLOAT_EQ(r.a.gates[0], 0.5f);
  EXPECT_FLOAT_EQ(r.a.gates[2], 0.5f);
  expect_routing_matches_naive(r, logits);
}

TEST(MoeRouting, DispatchGathersTokenRows) {
  Routing r(29, 6, 4, 2);
  r.route(logits_with_margin(29, 4, 2, 0.0f, 3));
  const std::vector<float> x = randn(29 * 6, 4);
  trainer::moe_dispatch(r.a, x.data(), r.d);
  for (std::size_t row = 0; row < r.rows(); ++row)
    for (int i = 0; i < 6; ++i) ASSERT_EQ(r.a.xg[row * 6 + i], x[r.a.row_token[row] * 6 + i]) << "row " << row;
}

TEST(MoeRouting, CombineAccumulatesGatedExpertOutputs) {
  Routing r(29, 6, 4, 2);
  r.route(logits_with_margin(29, 4, 2, 0.0f, 5));
  const std::vector<float> y = randn(r.rows() * 6, 6), out0 = randn(29 * 6, 7);
  std::copy(y.begin(), y.end(), r.a.y);
  std::vector<float> out = out0;
  trainer::moe_combine(out.data(), r.a, r.d);
  for (int m = 0; m < 29; ++m) {
    for (int i = 0; i < 6; ++i) {
      double want = out0[m * 6 + i];
      for (int j = 0; j < 2; ++j) {
        // The row of choice j found by search, not through slot_row.
        const int e = r.a.topk[m * 2 + j];
        int row = r.a.offset[e];
        while (r.a.row_token[row] != m) ++row;
        want += double(r.a.gates[m * 2 + j]) * y[row * 6 + i];
      }
      EXPECT_NEAR(out[m * 6 + i], want, 1e-5) << "token " << m;
    }
  }
}

TEST(MoeRouting, CombineBackwardMatchesFiniteDifferences) {
  Routing r(13, 5, 4, 2);
  r.route(logits_with_margin(13, 4, 2, 0.0f, 8));
  const std::vector<float> y = randn(r.rows() * 5, 9), w = randn(13 * 5, 10);
  std::copy(y.begin(), y.end(), r.a.y);
  std::fill(r.s.dy, r.s.dy + r.rows() * 5, 123.0f);  // overwritten, not accumulated
  trainer::moe_combine_backward(w.data(), r.a, r.s, r.d);
  // L = <w, combine(0)>: dL/dgates = dgates, dL/dy = dy.
  auto loss = [&] {
    std::vector<float> out(13 * 5, 0.0f);
    trainer::moe_combine(out.data(), r.a, r.d);
    return dot(w.data(), out.data(), out.size());
  };
  expect_fd_gradient("gates", r.a.gates, r.s.dgates, 13 * 2, loss);
  expect_fd_gradient("y", r.a.y, r.s.dy, r.rows() * 5, loss);
}

TEST(MoeRouting, RouteBackwardMatchesFiniteDifferences) {
  for (const int k : {1, 2, 3}) {
    SCOPED_TRACE("k = " + std::to_string(k));
    const int M = 11, X = 5;
    Routing r(M, 3, X, k);
    std::vector<float> logits = logits_with_margin(M, X, k, 0.1f, 20 + k);
    const std::vector<float> c = randn(static_cast<std::size_t>(M) * k, 21);
    const float aux_grad = 0.7f;
    // L(logits) = <c, gates> + aux_grad · aux, routing fixed (margins far above eps).
    auto loss = [&] {
      r.route(logits);
      return dot(c.data(), r.a.gates, c.size()) + double(aux_grad) * trainer::moe_aux_loss(r.a, r.d);
    };
    loss();
    const std::vector<int> topk(r.a.topk, r.a.topk + M * k);
    std::copy(c.begin(), c.end(), r.s.dgates);
    trainer::moe_route_backward(aux_grad, r.a, r.s, r.d);
    const std::vector<float> dlogits(r.s.dprobs, r.s.dprobs + M * X);
    expect_fd_gradient("logits", logits.data(), dlogits.data(), logits.size(), loss, {1e-2f, 2e-3, 1e-3, 64});
    loss();
    EXPECT_EQ(std::vector<int>(r.a.topk, r.a.topk + M * k), topk) << "the finite differences changed a choice";
  }
}

TEST(MoeRouting, AuxLossIsSwitchFormula) {
  Routing r(40, 2, 4, 2);
  const std::vector<float> logits = logits_with_margin(40, 4, 2, 0.0f, 30);
  r.route(logits);
  double aux = 0.0;
  for (int e = 0; e < 4; ++e) {
    int n = 0;
    double P = 0.0;
    for (int m = 0; m < 40; ++m) {
      P += r.a.probs[m * 4 + e] / 40.0;
      n += (r.a.topk[m * 2] == e) + (r.a.topk[m * 2 + 1] == e);
    }
    aux += n / 80.0 * P;
  }
  EXPECT_NEAR(trainer::moe_aux_loss(r.a, r.d), 4.0 * aux, 1e-6);
}

TEST(MoeRouting, DispatchBackwardIsTheAdjointOfDispatch) {
  const int M = 31, D = 7;
  Routing r(M, D, 6, 3);
  r.route(logits_with_margin(M, 6, 3, 0.0f, 40));
  const std::vector<float> x = randn(M * D, 41), g = randn(r.rows() * D, 42), dx0 = randn(M * D, 43);
  trainer::moe_dispatch(r.a, x.data(), r.d);
  std::copy(g.begin(), g.end(), r.s.dxg);
  std::vector<float> dx = dx0;
  trainer::moe_dispatch_backward(dx.data(), r.a, r.s, r.d);
  std::vector<float> added(dx.size());
  for (std::size_t i = 0; i < dx.size(); ++i) added[i] = dx[i] - dx0[i];  // accumulates into dx
  const double lhs = dot(r.a.xg, g.data(), g.size()), rhs = dot(x.data(), added.data(), x.size());
  EXPECT_NEAR(lhs, rhs, 1e-4 * (1.0 + std::fabs(lhs)));
  // Each token receives exactly its k rows: along a one-hot x the adjoint picks them.
  for (int m = 0; m < M; m += 5) {
    std::vector<float> onehot(M * D, 0.0f);
    onehot[m * D + 2] = 1.0f;
    trainer::moe_dispatch(r.a, onehot.data(), r.d);
    EXPECT_NEAR(dot(r.a.xg, g.data(), g.size()), added[m * D + 2], 1e-5) << "token " << m;
  }
}

}  // namespace
