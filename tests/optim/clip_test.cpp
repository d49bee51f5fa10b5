// Gradient clipping by global norm and by value, against values computed by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "qkv.h"

using namespace qkv;

namespace {
// A leaf whose gradient is exactly `g` (loss = sum(g * x)).
Tensor with_grad(std::vector<Scalar> g, Shape shape) {
  Tensor x = Tensor::zeros(shape).requires_grad_();
  sum(mul(x, Tensor::from(std::move(g), shape))).backward();
  return x;
}
}  // namespace

TEST_CASE("clip_grad_norm returns the norm before clipping and scales all gradients together", "[clip]") {
  Tensor a = with_grad({3, 4}, {2}), b = with_grad({12}, {1});
  Tensor no_grad = Tensor::zeros({3}).requires_grad_();
  const double norm = clip_grad_norm({a, b, no_grad}, ClipGradNormOptions{.max_norm = 6.5});
  CHECK(norm == Approx(13.0));  // sqrt(9 + 16 + 144)
  const double coef = 6.5 / (13.0 + 1e-6);
  CHECK(a.grad().at({0}) == Approx(3 * coef));
  CHECK(a.grad().at({1}) == Approx(4 * coef));
  CHECK(b.grad().at({0}) == Approx(12 * coef));
  CHECK_FALSE(no_grad.grad().defined());

  // Below the limit nothing changes.
  CHECK(clip_grad_norm({a, b}, ClipGradNormOptions{.max_norm = 100}) == Approx(6.5).epsilon(1e-5));
  CHECK(a.grad().at({0}) == Approx(3 * coef));
}

TEST_CASE("clip_grad_norm with the infinity norm and with p = 1", "[clip]") {
  Tensor a = with_grad({-5, 1}, {2}), b = with_grad({2}, {1});
  CHECK(clip_grad_norm({a, b}, ClipGradNormOptions{.max_norm = 2.5, .norm_type = std::numeric_limits<double>::infinity()}) ==
        Approx(5.0));
  CHECK(a.grad().at({0}) == Approx(-5 * 2.5 / (5 + 1e-6)));
  Tensor c = with_grad({-1, 2}, {2});
  CHECK(clip_grad_norm({c}, ClipGradNormOptions{.max_norm = 10, .norm_type = 1}) == Approx(3.0));
  CHECK_THROWS_WITH(clip_grad_norm({c}, ClipGradNormOptions{.norm_type = 0}), Catch::Contains("norm_type must be positive"));
}

TEST_CASE("clip_grad_value clamps each element", "[clip]") {
  Tensor a = with_grad({-3, 0.5, 2, -0.1}, {2, 2});
  clip_grad_value({a}, 1.0);
  CHECK(a.grad().to_vector() == std::vector<Scalar>{-1, 0.5, 1, Scalar(-0.1)});
  CHECK_THROWS_WITH(clip_grad_value({a}, -1), Catch::Contains("clip_value must be >= 0"));
}
