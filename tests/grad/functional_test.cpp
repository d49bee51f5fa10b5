// jacobian and vjp (core/functional.h) against Jacobians known in closed form.
#include <catch2/catch.hpp>

#include "qkv.h"

using namespace qkv;

TEST_CASE("jacobian of softmax is diag(w) - w w^T", "[grad][functional]") {
  const Tensor x = Tensor::from({0.3, -1.2, 2.0, 0.5});
  const Tensor w = softmax(x);
  const Tensor j = jacobian([](const Tensor& t) { return softmax(t); }, x);
  REQUIRE(j.shape() == Shape{4, 4});
  for (int64_t a = 0; a < 4; ++a)
    for (int64_t b = 0; b < 4; ++b)
      CHECK(j.at({a, b}) == Approx((a == b ? w.at({a}) : 0) - w.at({a}) * w.at({b})).margin(1e-12));
  CHECK_FALSE(x.requires_grad());  // x is left alone
}

TEST_CASE("jacobian of x -> x A has shape out + in and holds A^T", "[grad][functional]") {
  const Tensor a = Tensor::from({1, 2, 3, 4, 5, 6}, {3, 2});
  const Tensor x = Tensor::from({0.5, -1, 2}, {1, 3});
  const Tensor j = jacobian([&](const Tensor& t) { return matmul(t, a); }, x);
  REQUIRE(j.shape() == Shape{1, 2, 1, 3});
  for (int64_t o = 0; o < 2; ++o)
    for (int64_t i = 0; i < 3; ++i) CHECK(j.at({0, o, 0, i}) == Approx(a.at({i, o})));
}

TEST_CASE("vjp is v^T J and returns f(x)", "[grad][functional]") {
  Generator gen(3);
  const Tensor x = Tensor::randn({2, 3}, gen), v = Tensor::randn({2, 3}, gen);
  const auto f = [](const Tensor& t) { return mul(tanh(t), sum(t)); };
  const auto [out, product] = vjp(f, x, v);
  const TensorDiff value = compare(out, f(x), 1e-12, 0);
  INFO(value.report);
  CHECK(value.within_tolerance);
  const Tensor j = reshape(jacobian(f, x), {6, 6});
  const TensorDiff diff = compare(product, reshape(matmul(reshape(v, {1, 6}), j), {2, 3}), 1e-12, 1e-10);
  INFO(diff.report);
  CHECK(diff.within_tolerance);
  CHECK_THROWS_WITH(vjp(f, x, Tensor::zeros({3})), Catch::Contains("vjp: v [3]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("a function that ignores x has a zero Jacobian", "[grad][functional]") {
  const Tensor c = Tensor::from({1, 2});
  CHECK(sum(abs(jacobian([&](const Tensor&) { return c; }, Tensor::from({3, 4, 5})))).item() == 0);
}
