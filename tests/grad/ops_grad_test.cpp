// Finite-difference gradient checks of every op, in the double build, on random shapes
// with broadcasting and batches. Each family also has a value checked by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>

#include "qkv.h"
#include "random_tensors.h"

using namespace qkv;

namespace {
// Values kept away from the kinks of abs/relu/clamp, where finite differences are wrong.
Tensor away_from_zero(const Shape& s) {
  Tensor t = randn(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] += t.data()[i] >= 0 ? 0.1 : -0.1;
  return t;
}
Tensor positive(const Shape& s) { return Tensor::rand(s, gen(), 0.5, 2.0); }

void check(const TensorFunction& f, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(r.report());
  CHECK(r.passed);
}
Shape random_shape(int rank) {
  Shape s;
  for (int i = 0; i < rank; ++i) s.push_back(gen().integer(1, 5));
  return s;
}
}  // namespace

TEST_CASE("gradcheck: binary elementwise ops with broadcasting", "[grad]") {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{4}, {2, 3, 4}}, {{}, {2, 3}}};
  for (auto [sa, sb] : cases) {
    INFO("shapes " << shape_str(sa) << " and " << shape_str(sb));
    check([](auto& x) { return add(x[0], x[1]); }, {randn(sa), randn(sb)});
    check([](auto& x) { return sub(x[0], x[1]); }, {randn(sa), randn(sb)});
    check([](auto& x) { return mul(x[0], x[1]); }, {randn(sa), randn(sb)});
    check([](auto& x) { return div(x[0], x[1]); }, {randn(sa), positive(sb)});
  }
  for (int trial = 0; trial < 5; ++trial) {
    Shape s = random_shape(3);
    Shape t = s;
    t[gen().integer(0, 3)] = 1;
    check([](auto& x) { return mul(x[0], x[1]); }, {randn(s), randn(t)});
  }
}

TEST_CASE("gradcheck: scalar and unary elementwise ops", "[grad]") {
  const Shape s = {3, 5};
  check([](auto& x) { return add(x[0], Scalar(2.5)); }, {randn(s)});
  check([](auto& x) { return mul(x[0], Scalar(-1.5)); }, {randn(s)});
  check([](auto& x) { return rsub(Scalar(2), x[0]); }, {randn(s)});
  check([](auto& x) { return rdiv(Scalar(2), x[0]); }, {positive(s)});
  check([](auto& x) { return neg(x[0]); }, {randn(s)});
  check([](auto& x) { return pow(x[0], Scalar(3)); }, {randn(s)});
  check([](auto& x) { return pow(x[0], Scalar(-0.5)); }, {positive(s)});
  check([](auto& x) { return sqrt(x[0]); }, {positive(s)});
  check([](auto& x) { return exp(x[0]); }, {randn(s)});
  check([](auto& x) { return log(x[0]); }, {positive(s)});
  check([](auto& x) { return abs(x[0]); }, {away_from_zero(s)});
  check([](auto& x) { return tanh(x[0]); }, {randn(s)});
  check([](auto& x) { return sigmoid(x[0]); }, {randn(s)});
  check([](auto& x) { return relu(x[0]); }, {away_from_zero(s)});
  check([](auto& x) { return gelu(x[0]); }, {randn(s)});
  Tensor c = away_from_zero(s);
  for (int64_t i = 0; i < c.numel(); ++i)  // keep clear of the clamp edges at +-0.5
    if (std::abs(std::abs(c.data()[i]) - 0.5) < 0.05) c.data()[i] += 0.2;
  check([](auto& x) { return clamp(x[0], Scalar(-0.5), Scalar(0.5)); }, {c});
}

TEST_CASE("elementwise values by hand", "[grad]") {
  Tensor x = Tensor::from({-2, 0.5, 3}).requires_grad_();
  Tensor y = mul(pow(x, 2), Scalar(3));  // 3x^2, dy/dx = 6x
  sum(y).backward();
  CHECK(y.to_vector() == std::vector<Scalar>{12, 0.75, 27});
  CHECK(x.grad().to_vector() == std::vector<Scalar>{-12, 3, 18});
  // gelu(1) = 1 * Phi(1) = 0.841344746...; sigmoid(0) = 0.5; relu'(0) = 0.
  CHECK(gelu(Tensor::from({1})).item() == Approx(0.8413447460685429));
  CHECK(sigmoid(Tensor::from({0})).item() == 0.5);
  Tensor z = Tensor::from({0}).requires_grad_();
  sum(relu(z)).backward();
  CHECK(z.grad().item() == 0);
  // Broadcast add of a bias sums its gradient over the rows.
  Tensor b = Tensor::from({1, 2}).requires_grad_();
  sum(add(Tensor::ones({3, 2}), b)).backward();
  CHECK(b.grad().to_vector() == std::vector<Scalar>{3, 3});
}

TEST_CASE("gradcheck: matmul, 2-D, batched, broadcast and transposed", "[grad]") {
  check([](auto& x) { return matmul(x[0], x[1]); }, {randn({3, 4}), randn({4, 2})});
  check([](auto& x) { return matmul(x[0], x[1]); }, {randn({2, 3, 3, 4}), randn({2, 3, 4, 5})});
  check([](auto& x) { return matmul(x[0], x[1]); }, {randn({2, 3, 3, 4}), randn({4, 5})});
  check([](auto& x) { return matmul(x[0], x[1]); }, {randn({2, 1, 3, 4}), randn({1, 3, 4, 2})});
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      INFO("transpose_a " << ta << " transpose_b " << tb);
      const Shape sa = ta ? Shape{2, 4, 3} : Shape{2, 3, 4};
      const Shape sb = tb ? Shape{5, 4} : Shape{4, 5};
      check([=](auto& x) { return matmul(x[0], x[1], {.transpose_a = ta, .transpose_b = tb}); },
            {randn(sa), randn(sb)});
      check([=](auto& x) { return matmul(x[0], x[1], {.transpose_a = ta, .transpose_b = tb, .alpha = -0.3}); },
            {randn(sa), randn(sb)});
    }
}

TEST_CASE("matmul values by hand", "[grad]") {
  Tensor a = Tensor::from({1, 2, 3, 4}, {2, 2}).requires_grad_();
  Tensor b = Tensor::from({5, 6, 7, 8}, {2, 2}).requires_grad_();
  Tensor c = matmul(a, b);
  CHECK(c.to_vector() == std::vector<Scalar>{19, 22, 43, 50});
  sum(c).backward();
  // dL/dA = 1 B^T: row sums of B; dL/dB = A^T 1: column sums of A.
  CHECK(a.grad().to_vector() == std::vector<Scalar>{11, 15, 11, 15});
  CHECK(b.grad().to_vector() == std::vector<Scalar>{4, 4, 6, 6});
  CHECK(matmul(a, b, {.transpose_b = true}).to_vector() == std::vector<Scalar>{17, 23, 39, 53});
  CHECK(matmul(a, b, {.alpha = 0.5}).to_vector() == std::vector<Scalar>{9.5, 11, 21.5, 25});
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})),
                    Catch::Contains("matmul") && Catch::Contains("[2, 3] x [2, 3]"));
  CHECK_THROWS_WITH(matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({5, 4, 3})),
                    Catch::Contains("matmul: the batch axes of [2, 3, 4] and [5, 4, 3] cannot be broadcast together"));
}

TEST_CASE("gradcheck: shape ops", "[grad]") {
  check([](auto& x) { return reshape(x[0], {4, -1}); }, {randn({2, 3, 2})});
  check([](auto& x) { return transpose(x[0], 0, 2); }, {randn({2, 3, 4})});
  check([](auto& x) { return transpose(x[0], -1, -2); }, {randn({2, 3, 4})});
  check([](auto& x) { return permute(x[0], {2, 0, 3, 1}); }, {randn({2, 3, 4, 2})});
  check([](auto& x) { return concat({x[0], x[1], x[2]}, 1); }, {randn({2, 1, 3}), randn({2, 2, 3}), randn({2, 3, 3})});
  check([](auto& x) { return concat({x[0], x[1]}, -1); }, {randn({2, 3}), randn({2, 2})});
  check([](auto& x) { return slice(x[0], 1, 1, 3); }, {randn({2, 4, 3})});
  check([](auto& x) { auto p = split(x[0], {1, 3}, 0); return mul(sum(p[0]), sum(p[1], 0)); }, {randn({4, 2})});
  check([](auto& x) { return unsqueeze(x[0], 1); }, {randn({2, 3})});
  check([](auto& x) { return squeeze(x[0], 0); }, {randn({1, 3})});
  check([](auto& x) { return expand(x[0], {2, 3, 4}); }, {randn({3, 1})});
}

TEST_CASE("shape ops values by hand", "[grad]") {
  Tensor x = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(transpose(x, 0, 1).to_vector() == std::vector<Scalar>{1, 4, 2, 5, 3, 6});
  CHECK(permute(reshape(x, {1, 2, 3}), {2, 0, 1}).shape() == Shape{3, 1, 2});
  CHECK(concat({x, x}, 0).shape() == Shape{4, 3});
  CHECK(concat({x, Tensor::zeros({2, 1})}, 1).to_vector() == std::vector<Scalar>{1, 2, 3, 0, 4, 5, 6, 0});
  CHECK(slice(x, 1, 1, 2).to_vector() == std::vector<Scalar>{2, 5});
  CHECK(expand(Tensor::from({7, 8}, {2, 1}), {2, 2}).to_vector() == std::vector<Scalar>{7, 7, 8, 8});
  CHECK_THROWS_WITH(squeeze(x, 0), Catch::Contains("has size 2, not 1"));
  CHECK_THROWS_WITH(concat({x, Tensor::zeros({3, 3})}, 1), Catch::Contains("[2, 3] and [3, 3]"));
  CHECK_THROWS_AS(slice(x, 1, 2, 4), std::out_of_range);
  CHECK_THROWS_WITH(permute(x, {0, 0}), Catch::Contains("not a permutation"));
}

TEST_CASE("gradcheck: reductions", "[grad]") {
  check([](auto& x) { return sum(x[0]); }, {randn({3, 4})});
  check([](auto& x) { return mean(x[0]); }, {randn({3, 4})});
  for (int axis : {0, 1, 2, -1}) {
    INFO("axis " << axis);
    for (bool keep : {false, true}) {
      check([=](auto& x) { return sum(x[0], axis, keep); }, {randn({2, 3, 4})});
      check([=](auto& x) { return mean(x[0], axis, keep); }, {randn({2, 3, 4})});
      check([=](auto& x) { return max(x[0], axis, keep); }, {randn({2, 3, 4})});
      check([=](auto& x) { return var(x[0], axis, keep); }, {randn({2, 3, 4})});
    }
  }
  check([](auto& x) { return var(x[0], 1, false, true); }, {randn({2, 5})});
}

TEST_CASE("reductions values by hand", "[grad]") {
  Tensor x = Tensor::from({1, 5, 3, 4, 2, 6}, {2, 3}).requires_grad_();
  CHECK(sum(x, 0).to_vector() == std::vector<Scalar>{5, 7, 9});
  CHECK(mean(x, 1).to_vector() == std::vector<Scalar>{3, 4});
  CHECK(sum(x, 1, true).shape() == Shape{2, 1});
  Tensor m = max(x, 1);
  CHECK(m.to_vector() == std::vector<Scalar>{5, 6});
  // var of {1,5,3} = ((1-3)^2 + (5-3)^2 + 0)/3 = 8/3; unbiased 8/2 = 4
  CHECK(var(x, 1).at({0}) == Approx(8.0 / 3));
  CHECK(var(x, 1, false, true).at({0}) == Approx(4));
  sum(m).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{0, 1, 0, 0, 0, 1});
}

TEST_CASE("gradcheck: softmax and log-softmax", "[grad]") {
  check([](auto& x) { return softmax(x[0]); }, {randn({3, 5})});
  check([](auto& x) { return softmax(x[0]); }, {randn({2, 2, 3, 4})});
  check([](auto& x) { return log_softmax(x[0]); }, {randn({3, 5})});
  check([](auto& x) { return log_softmax(x[0]); }, {randn({2, 3, 4})});
}

TEST_CASE("softmax values by hand, stability and fully masked rows", "[grad]") {
  Tensor s = softmax(Tensor::from({0, std::log(Scalar(3))}, {1, 2}));
  CHECK(s.at({0, 0}) == Approx(0.25));
  CHECK(s.at({0, 1}) == Approx(0.75));
  // Logits of 1e4 do not overflow.
  Tensor big = softmax(Tensor::from({1e4, 1e4 - 1, -1e4}, {1, 3}));
  CHECK(big.at({0, 0}) == Approx(1 / (1 + std::exp(-1.0))));
  Tensor lbig = log_softmax(Tensor::from({1e4, 0}, {1, 2}));
  CHECK(lbig.at({0, 0}) == Approx(0).margin(1e-12));
  CHECK(lbig.at({0, 1}) == Approx(-1e4));
  // A row with every key masked gives zero weights and zero gradient, not NaN.
  const Scalar inf = std::numeric_limits<Scalar>::infinity();
  Tensor x = Tensor::from({-inf, -inf, 1, 2}, {2, 2}).requires_grad_();
  Tensor w = softmax(x);
  CHECK(w.at({0, 0}) == 0);
  CHECK(w.at({0, 1}) == 0);
  CHECK(w.at({1, 0}) + w.at({1, 1}) == Approx(1));
  sum(mul(w, Tensor::from({1, 2, 3, 4}, {2, 2}))).backward();
  for (Scalar g : x.grad().to_vector()) CHECK(std::isfinite(g));
  CHECK(x.grad().at({0, 0}) == 0);
}

TEST_CASE("gradcheck: masked_fill, embedding, dropout", "[grad]") {
  Tensor mask = Tensor::from({0, 1, 0, 0, 0, 1}, {2, 3});
  check([mask](auto& x) { return masked_fill(x[0], mask, Scalar(-5)); }, {randn({2, 3})});
  Tensor row_mask = Tensor::from({0, 1, 1}, {3});  // broadcast over rows
  check([row_mask](auto& x) { return softmax(masked_fill(x[0], row_mask, -INFINITY)); }, {randn({4, 3})});
  Indices ids = Indices::from({0, 2, 2, 1, 0, 3}, {2, 3});
  check([ids](auto& x) { return embedding(x[0], ids); }, {randn({4, 3})});
  check([](auto& x) {
    Generator g(9);  // the same mask on every call, as gradcheck needs
    return dropout(x[0], Scalar(0.3), g);
  }, {randn({4, 5})});
}

TEST_CASE("masking, embedding and dropout values by hand", "[grad]") {
  Tensor table = Tensor::from({1, 2, 3, 4, 5, 6}, {3, 2}).requires_grad_();
  Tensor e = embedding(table, Indices::from({2, 0, 2}, {3}));
  CHECK(e.to_vector() == std::vector<Scalar>{5, 6, 1, 2, 5, 6});
  sum(e).backward();
  CHECK(table.grad().to_vector() == std::vector<Scalar>{1, 1, 0, 0, 2, 2});  // row 2 used twice
  CHECK_THROWS_WITH(embedding(table, Indices::from({3}, {1})), Catch::Contains("index 3 out of range"));
  Tensor m = masked_fill(Tensor::from({1, 2, 3}), Tensor::from({0, 1, 0}), -9);
  CHECK(m.to_vector() == std::vector<Scalar>{1, -9, 3});
  Generator g(3);
  Tensor d = dropout(Tensor::ones({10000}), Scalar(0.25), g);
  int64_t zeros = 0;
  for (Scalar v : d.to_vector()) {
    CHECK((v == 0 || v == Approx(1 / 0.75)));
    zeros += v == 0;
  }
  CHECK(zeros == Approx(2500).margin(150));
  CHECK(dropout(Tensor::ones({3}), Scalar(0.5), g, /*training=*/false).to_vector() == std::vector<Scalar>{1, 1, 1});
  CHECK_THROWS_AS(dropout(Tensor::ones({3}), Scalar(1), g), std::invalid_argument);
}

TEST_CASE("gradcheck: losses", "[grad]") {
  Indices t = Indices::from({1, 0, 3, 2, 2, 0}, {2, 3});
  check([t](auto& x) { return cross_entropy(x[0], t); }, {randn({2, 3, 4})});
  check([t](auto& x) { return cross_entropy(x[0], t, /*ignore_index=*/2); }, {randn({2, 3, 4})});
  check([](auto& x) { return mse_loss(x[0], x[1]); }, {randn({3, 2}), randn({3, 2})});
}

TEST_CASE("losses values by hand", "[grad]") {
  // Uniform logits over 4 classes: loss ln 4; gradient (1/4 - onehot)/rows.
  Tensor logits = Tensor::zeros({2, 4}).requires_grad_();
  Tensor loss = cross_entropy(logits, Indices::from({1, 3}, {2}));
  CHECK(loss.item() == Approx(std::log(4.0)));
  loss.backward();
  CHECK(logits.grad().at({0, 1}) == Approx((0.25 - 1) / 2));
  CHECK(logits.grad().at({0, 0}) == Approx(0.25 / 2));
  // Ignored targets are not counted: only the second row.
  Tensor l2 = cross_entropy(Tensor::from({0, 0, 0, std::log(Scalar(3))}, {2, 2}), Indices::from({-100, 1}, {2}), -100);
  CHECK(l2.item() == Approx(-std::log(0.75)));
  CHECK(mse_loss(Tensor::from({1, 2}), Tensor::from({3, 2})).item() == Approx(2));
  CHECK_THROWS_WITH(cross_entropy(Tensor::zeros({2, 4}), Indices::from({4, 0}, {2})), Catch::Contains("target 4 out of range"));
  CHECK_THROWS_WITH(mse_loss(Tensor::zeros({2}), Tensor::zeros({3})), Catch::Contains("mse_loss: shapes [2] and [3]"));
}
