// The fused ops (scaled_dot_product_attention, layer_norm, linear): a finite-difference
// gradcheck in double, the same values and gradients as the composition of simple ops
// they replace, and a value by hand.
#include <catch2/catch.hpp>
#include <cmath>

#include "qkv.h"
#include "random_tensors.h"

using namespace qkv;

namespace {

void check_gradients(const TensorFunction& f, const std::vector<Tensor>& inputs) {
  GradcheckResult r = gradcheck(f, inputs);
  INFO(r.report());
  CHECK(r.passed);
}

// Value and every input's gradient of f against g, for the same inputs and output seed.
void check_same(const TensorFunction& f, const TensorFunction& g, const std::vector<Tensor>& inputs, double tol) {
  std::vector<Tensor> a, b;
  for (const Tensor& x : inputs) {
    a.push_back(x.clone().requires_grad_());
    b.push_back(x.clone().requires_grad_());
  }
  const Tensor fa = f(a), fb = g(b);
  const TensorDiff value = compare(fa, fb, tol, tol);
  INFO("value: " << value.report);
  CHECK(value.within_tolerance);
  const Tensor seed = randn(fa.shape());
  fa.backward(seed);
  fb.backward(seed);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorDiff d = compare(a[i].grad(), b[i].grad(), tol, tol);
    INFO("gradient of input " << i << ": " << d.report);
    CHECK(d.within_tolerance);
  }
}

// softmax(scale q k^T, causal) v from the simple ops, storing the weights.
Tensor composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, Scalar scale, bool causal) {
  Tensor s = mul(matmul(q, k, {.transpose_b = true}), scale);
  if (causal) s = masked_fill(s, attention_mask(q.size(-2), k.size(-2), true, {}), -INFINITY);
  return matmul(softmax(s), v);
}
}  // namespace

TEST_CASE("fused attention: gradcheck, causal or not, d_v != d_k, Nq != Nk", "[grad][attention]") {
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    check_gradients([causal](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], 0.7, causal); },
                    {randn({2, 3, 5, 4}), randn({2, 3, 7, 4}), randn({2, 3, 7, 3})});
  }
}

TEST_CASE("fused attention: several query and key blocks (online softmax) match the composition", "[grad][attention]") {
  // 300 queries and 700 keys cross the kernel's block boundaries (256 queries, 512 keys), so
  // the running max and sum are rescaled between key blocks and the backward recomputes the
  // weights; 150 queries and 300 keys are one key block, whose weights the forward keeps.
  for (bool causal : {false, true}) {
    for (int64_t keys : {700, 300}) {
      INFO("causal " << causal << ", keys " << keys);
      const Scalar scale = 1.3;  // large scores, so the row max moves between blocks
      check_same([&](const std::vector<Tensor>& x) { return scaled_dot_product_attention(x[0], x[1], x[2], scale, causal); },
                 [&](const std::vector<Tensor>& x) { return composed_attention(x[0], x[1], x[2], scale, causal); },
                 {randn({1, keys == 700 ? 300 : 150, 8}), randn({1, keys, 8}), randn({1, keys, 5})}, 1e-10);
    }
  }
}

// [B, N, H * d] -> [B, H, N, d] and back, from the simple ops.
Tensor split(const Tensor& x, int64_t heads) {
  return permute(reshape(x, {x.size(0), x.size(1), heads, x.size(2) / heads}), {0, 2, 1, 3});
}
Tensor merge(const Tensor& x) {
  return reshape(permute(x, {0, 2, 1, 3}), {x.size(0), x.size(2), x.size(1) * x.size(3)});
}

TEST_CASE("packed heads attention: gradcheck, and the split-attend-merge composition", "[grad][attention]") {
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    // 3 heads, d_k 4, d_v 2, 5 queries against 7 keys.
    const std::vector<Tensor> small{randn({2, 5, 12}), randn({2, 7, 12}), randn({2, 7, 6})};
    check_gradients([causal](const std::vector<Tensor>& x) { return packed_heads_attention(x[0], x[1], x[2], 3, 0.7, causal); },
                    small);
    // Long enough for several query and key blocks (the online softmax and the recomputing
    // backward), and short enough for one (the kept weights).
    for (int64_t keys : {700, 300}) {
      INFO("keys " << keys);
      check_same(
          [&](const std::vector<Tensor>& x) { return packed_heads_attention(x[0], x[1], x[2], 2, 1.3, causal); },
          [&](const std::vector<Tensor>& x) {
            return merge(scaled_dot_product_attention(split(x[0], 2), split(x[1], 2), split(x[2], 2), 1.3, causal));
          },
          {randn({2, keys == 700 ? 300 : 150, 16}), randn({2, keys, 16}), randn({2, keys, 10})}, 1e-10);
    }
  }
}

TEST_CASE("packed heads attention: a value by hand, each head attending on its own", "[attention]") {
  // One query, two keys, two heads of width 1, scale 1. Head 0: scores 0 * 5 and 0 * 7,
  // equal weights, output (2 + 6) / 2 = 4. Head 1: scores 0 and ln 3, weights 1/4 and 3/4,
  // output 4 / 4 + 3 * 8 / 4 = 7.
  const Tensor q = Tensor::from({0, 1}, {1, 1, 2});
  const Tensor k = Tensor::from({5, 0, 7, std::log(3.0)}, {1, 2, 2});
  const Tensor v = Tensor::from({2, 4, 6, 8}, {1, 2, 2});
  const Tensor out = packed_heads_attention(q, k, v, 2, 1.0);
  CHECK(out.shape() == Shape{1, 1, 2});
  CHECK(out.to_vector()[0] == Approx(4).epsilon(1e-12));
  CHECK(out.to_vector()[1] == Approx(7).epsilon(1e-12));
}

TEST_CASE("packed heads attention: shape errors name the op, the problem and every shape", "[attention]") {
  CHECK_THROWS_WITH(packed_heads_attention(randn({2, 3, 12}), randn({2, 5, 12}), randn({2, 5, 7}), 3, 1.0),
                    Catch::Contains("packed_heads_attention") && Catch::Contains("3 heads do not divide") &&
                        Catch::Contains("[2, 5, 7]"));
  CHECK_THROWS_WITH(packed_heads_attention(randn({2, 3, 12}), randn({1, 5, 12}), randn({1, 5, 6}), 3, 1.0),
                    Catch::Contains("same batch size") && Catch::Contains("[1, 5, 12]"));
  CHECK_THROWS_WITH(packed_heads_attention(randn({3, 12}), randn({5, 12}), randn({5, 6}), 3, 1.0),
                    Catch::Contains("[B, N, heads * d]"));
  CHECK_THROWS_WITH(packed_heads_attention(randn({2, 3, 12}), randn({2, 5, 12}), randn({2, 5, 6}), 0, 1.0),
                    Catch::Contains("heads must be positive"));
}

TEST_CASE("fused attention: a value by hand", "[attention]") {
  // One query [1, 0] against keys [1, 0] and [0, 1], scale 1: weights softmax(1, 0) =
  // (e/(e+1), 1/(e+1)); values 2 and 4 give 2 e/(e+1) + 4/(e+1).
  const Tensor out = scaled_dot_product_attention(Tensor::from({1, 0}, {1, 2}), Tensor::from({1, 0, 0, 1}, {2, 2}),
                                                  Tensor::from({2, 4}, {2, 1}), 1.0);
  const double e = std::exp(1.0);
  CHECK(out.item() == Approx((2 * e + 4) / (e + 1)).epsilon(1e-12));
  // Causal: query 0 sees key 0 only.
  const Tensor causal = scaled_dot_product_attention(Tensor::from({1, 0, 0, 1}, {2, 2}), Tensor::from({1, 0, 0, 1}, {2, 2}),
                                                     Tensor::from({2, 4}, {2, 1}), 1.0, true);
  CHECK(causal.at({0, 0}) == Approx(2).epsilon(1e-12));
  CHECK(causal.at({1, 0}) == Approx((2 + 4 * e) / (e + 1)).epsilon(1e-12));
}

TEST_CASE("fused attention: no keys gives zero output, as softmax's all-masked row", "[attention]") {
  const Tensor out = scaled_dot_product_attention(randn({3, 2}), Tensor::zeros({0, 2}), Tensor::zeros({0, 4}), 1.0);
  CHECK(out.shape() == Shape{3, 4});
  for (Scalar x : out.to_vector()) CHECK(x == 0);
}

TEST_CASE("fused attention: shape errors name the op and every shape", "[attention]") {
  CHECK_THROWS_WITH(scaled_dot_product_attention(randn({2, 3, 4}), randn({2, 5, 3}), randn({2, 5, 4}), 1.0),
                    Catch::Contains("scaled_dot_product_attention") && Catch::Contains("[2, 3, 4]") &&
                        Catch::Contains("[2, 5, 3]") && Catch::Contains("same width"));
  CHECK_THROWS_WITH(scaled_dot_product_attention(randn({2, 3, 4}), randn({3, 5, 4}), randn({3, 5, 4}), 1.0),
                    Catch::Contains("same leading axes"));
}

TEST_CASE("attention(): the fused path and the path that keeps the weights agree", "[grad][attention]") {
  ScaledDotScorer scorer;
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    check_same(
        [&](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], scorer, {.causal = causal}).output; },
        [&](const std::vector<Tensor>& x) {
          const AttentionResult r = attention(x[0], x[1], x[2], scorer, {.causal = causal, .need_weights = true});
          REQUIRE(r.weights.defined());
          REQUIRE(r.scores.shape() == Shape{2, 4, 6, 9});
          return r.output;
        },
        {randn({2, 4, 6, 8}), randn({2, 4, 9, 8}), randn({2, 4, 9, 3})}, 1e-10);
  }
}

TEST_CASE("layer_norm: gradcheck and the composition of mean, var, sqrt", "[grad][layer_norm]") {
  check_gradients([](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
                  {randn({3, 4, 6}), randn({6}), randn({6})});
  check_same([](const std::vector<Tensor>& x) { return layer_norm(x[0], x[1], x[2], 1e-5); },
             [](const std::vector<Tensor>& x) {
               const Tensor centred = sub(x[0], mean(x[0], -1, true));
               return add(mul(div(centred, sqrt(add(var(x[0], -1, true), 1e-5))), x[1]), x[2]);
             },
             {randn({5, 7}), randn({7}), randn({7})}, 1e-10);
}

TEST_CASE("layer_norm: a value by hand and shape errors", "[layer_norm]") {
  // Row [1, 3]: mean 2, population variance 1, so (x - 2) / sqrt(1 + eps) = [-1, 1] (eps 0
  // to round-off); gain [2, 3] and bias [0, 1] give [-2, 4].
  const Tensor y = layer_norm(Tensor::from({1, 3}, {1, 2}), Tensor::from({2, 3}), Tensor::from({0, 1}), 1e-12);
  CHECK(y.at({0, 0}) == Approx(-2).epsilon(1e-9));
  CHECK(y.at({0, 1}) == Approx(4).epsilon(1e-9));
  CHECK_THROWS_WITH(layer_norm(randn({2, 3}), randn({4}), randn({4}), 1e-5),
                    Catch::Contains("layer_norm") && Catch::Contains("[4]") && Catch::Contains("[2, 3]"));
}

TEST_CASE("linear: gradcheck, with and without bias, against matmul plus add", "[grad][linear]") {
  check_gradients([](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
                  {randn({2, 3, 4}), randn({4, 5}), randn({5})});
  check_gradients([](const std::vector<Tensor>& x) { return linear(x[0], x[1], Tensor()); }, {randn({3, 4}), randn({4, 2})});
  check_same([](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
             [](const std::vector<Tensor>& x) { return add(matmul(x[0], x[1]), x[2]); },
             {randn({6, 4}), randn({4, 3}), randn({3})}, 1e-12);
  // By hand: [1, 2] [[1, 0], [0, 1]] + [10, 20] = [11, 22].
  const Tensor y = linear(Tensor::from({1, 2}, {1, 2}), Tensor::from({1, 0, 0, 1}, {2, 2}), Tensor::from({10, 20}));
  CHECK(y.to_vector() == std::vector<Scalar>{11, 22});
  CHECK_THROWS_WITH(linear(randn({2, 3}), randn({4, 5}), Tensor()),
                    Catch::Contains("linear") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
}

TEST_CASE("MultiHeadAttention: the packed fused path agrees with the split path that keeps the weights",
          "[grad][attention]") {
  for (bool causal : {false, true}) {
    INFO("causal " << causal);
    Generator init(5);
    // d_head 5: the heads' total width (15) differs from d_model (12).
    MultiHeadAttention mha({.d_model = 12, .heads = 3, .d_head = 5, .causal = causal}, init);
    check_same([&](const std::vector<Tensor>& x) { return mha.forward_cross(x[0], x[1], {}, false).output; },
               [&](const std::vector<Tensor>& x) { return mha.forward_cross(x[0], x[1], {}, true).output; },
               {randn({2, 4, 12}), randn({2, 7, 12})}, 1e-10);
  }
}
