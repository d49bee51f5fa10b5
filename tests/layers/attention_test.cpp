#include <cmath>
#include <limits>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("attention rejects heads that do not divide d_model, naming both", "[attention]") {
  Generator gen(0);
  CHECK_THROWS_WITH(MultiHeadAttention(AttentionOptions{.d_model = 10, .heads = 3}, gen),
                    Catch::Contains("heads=3") && Catch::Contains("d_model=10"));
  // An explicit head width lifts the constraint: one head of width 8 in a d_model = 64 model.
  MultiHeadAttention narrow(AttentionOptions{.d_model = 64, .heads = 1, .d_head = 8}, gen);
  CHECK(narrow.parameter("q.weight").shape() == Shape{64, 8});
  CHECK(narrow.parameter("out.weight").shape() == Shape{8, 64});
  CHECK(narrow.forward(Tensor::randn({2, 5, 64}, gen)).output.shape() == Shape{2, 5, 64});
}

TEST_CASE("attention checks its input and mask shapes", "[attention]") {
  Generator gen(0);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2}, gen);
  CHECK_THROWS_WITH(attn.forward(Tensor::zeros({2, 3, 5})), Catch::Contains("[B, N, 4]") && Catch::Contains("[2, 3, 5]"));
  CHECK_THROWS_WITH(attn.forward(Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 4})),
                    Catch::Contains("key_padding") && Catch::Contains("[2, 3]") && Catch::Contains("[2, 4]"));
}

TEST_CASE("masked keys get exactly zero weight and each row sums to one over the allowed keys", "[attention]") {
  Generator gen(4);
  MultiHeadAttention attn(AttentionOptions{.d_model = 8, .heads = 2, .causal = true}, gen);
  const Tensor x = Tensor::randn({2, 4, 8}, gen, 0, 3);
  const Tensor padding = Tensor::from({0, 0, 0, 0, 0, 1, 0, 1}, {2, 4});  // batch 1: keys 1 and 3 padded
  const Tensor w = attn.forward(x, padding).weights;
  REQUIRE(w.shape() == Shape{2, 2, 4, 4});
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 4; ++i) {
        double row = 0;
        for (int64_t j = 0; j < 4; ++j) {
          const bool hidden = j > i || padding.at({b, j}) != 0;
          if (hidden) CHECK(w.at({b, h, i, j}) == 0);  // exactly, not approximately
          else CHECK(w.at({b, h, i, j}) > 0);
          row += w.at({b, h, i, j});
        }
        CHECK(row == Approx(1).margin(1e-6));
      }
}

TEST_CASE("a query whose every key is masked gets all-zero weights, not NaN", "[attention]") {
  Generator gen(4);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 1}, gen);
  Tensor x = Tensor::randn({1, 3, 4}, gen).requires_grad_();
  AttentionResult r = attn.forward(x, Tensor::ones({1, 3}));
  for (Scalar v : r.weights.to_vector()) CHECK(v == 0);
  // With no weights the output is the output projection's bias alone (zero at init).
  for (Scalar v : r.output.to_vector()) CHECK(v == 0);
  sum(r.output).backward();
  for (Scalar v : x.grad().to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("self-attention without position information is permutation-equivariant: attn(P x) = P attn(x)", "[attention]") {
  const std::vector<int64_t> order{2, 0, 3, 1};
  for (const char* kind : {"additive", "dot", "general", "scaled_dot"}) {
    INFO("scorer " << kind);
    Generator gen(5);
    MultiHeadAttention attn(AttentionOptions{.d_model = 6, .heads = 2, .scorer = {.kind = kind}}, gen);
    const Tensor x = Tensor::randn({2, 4, 6}, gen);
    CHECK_CLOSE(attn.forward(permute_rows(x, order)).output, permute_rows(attn.forward(x).output, order), 1e-5);
  }
}

TEST_CASE("with a sinusoidal encoding or a relative bias, attn(P x) != P attn(x)", "[attention]") {
  const std::vector<int64_t> order{2, 0, 3, 1};
  Generator gen(5);
  const Tensor x = Tensor::randn({1, 4, 6}, gen);
  auto max_gap = [&](const Tensor& a, const Tensor& b) { return compare(a, b).max_abs_error; };

  MultiHeadAttention attn(AttentionOptions{.d_model = 6, .heads = 2}, gen);
  PositionalEncoding pe(PositionalOptions{.kind = PositionKind::sinusoidal, .max_len = 8, .d_model = 6}, gen);
  auto with_pe = [&](const Tensor& in) { return attn.forward(pe.forward(in)).output; };
  CHECK(max_gap(with_pe(permute_rows(x, order)), permute_rows(with_pe(x), order)) > 1e-3);

  MultiHeadAttention relative(
      AttentionOptions{.d_model = 6, .heads = 2, .scorer = {.relative_bias = {.kind = RelativeBiasKind::clipped, .window = 2, .init_stddev = 1}}},
      gen);
  CHECK(max_gap(relative.forward(permute_rows(x, order)).output, permute_rows(relative.forward(x).output, order)) > 1e-3);
  // A zero bias table (the default) leaves the layer equivariant: the bias is what breaks it.
  MultiHeadAttention zero_bias(
      AttentionOptions{.d_model = 6, .heads = 2, .scorer = {.relative_bias = {.kind = RelativeBiasKind::clipped, .window = 2}}}, gen);
  CHECK_CLOSE(zero_bias.forward(permute_rows(x, order)).output, permute_rows(zero_bias.forward(x).output, order), 1e-5);
}

TEST_CASE("cross-attention reads queries from one input and keys/values from another", "[attention]") {
  Generator gen(6);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2, .d_kv_input = 3}, gen);
  const Tensor queries = Tensor::randn({2, 5, 4}, gen);
  const Tensor memory = Tensor::randn({2, 3, 3}, gen);
  AttentionResult r = attn.forward_cross(queries, memory);
  CHECK(r.output.shape() == Shape{2, 5, 4});
  CHECK(r.weights.shape() == Shape{2, 2, 5, 3});
  // Reordering the key/value rows together changes nothing: the sum over keys is a set.
  CHECK_CLOSE(attn.forward_cross(queries, permute_rows(memory, {2, 0, 1})).output, r.output, 1e-5);
  CHECK_THROWS_WITH(attn.forward_cross(queries, Tensor::zeros({1, 3, 3})), Catch::Contains("batch"));
}

TEST_CASE("attention dropout acts in train mode only", "[attention]") {
  Generator gen(7);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 1, .dropout = 0.5}, gen);
  const Tensor x = Tensor::randn({1, 6, 4}, gen);
  attn.eval();
  const Tensor a = attn.forward(x).output, b = attn.forward(x).output;
  CHECK(a.to_vector() == b.to_vector());
  attn.train();
  CHECK(compare(attn.forward(x).output, a).max_abs_error > 1e-4);
}

TEST_CASE("softmax gives exactly zero to -inf entries (Eigen's exp alone gives ~3e-39)", "[attention]") {
  const Scalar inf = std::numeric_limits<Scalar>::infinity();
  const Tensor w = softmax(Tensor::from({0, -inf, 1, -inf, -inf, -inf, -inf, -inf}, {1, 8}));
  for (int64_t j : {1, 3, 4, 5, 6, 7}) CHECK(w.at({0, j}) == 0);
  CHECK(w.at({0, 0}) + w.at({0, 2}) == Approx(1));
}
