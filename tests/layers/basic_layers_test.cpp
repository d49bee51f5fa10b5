#include <cmath>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("initialisers follow their formulas and repeat with the seed", "[init]") {
  Generator g1(11), g2(11);
  const Tensor a = init::xavier_uniform({100, 200}, g1);
  CHECK(a.to_vector() == init::xavier_uniform({100, 200}, g2).to_vector());
  const Scalar bound = std::sqrt(Scalar(6) / 300);  // sqrt(6 / (fan_in + fan_out))
  Scalar largest = 0;
  for (Scalar v : a.to_vector()) largest = std::max(largest, std::abs(v));
  CHECK(largest <= bound);
  CHECK(largest > 0.99 * bound);
  Generator g(3);
  CHECK(std::sqrt(var(reshape(init::xavier_normal({200, 300}, g), {-1}), 0).item()) ==
        Approx(std::sqrt(2.0 / 500)).epsilon(0.03));
  CHECK(std::sqrt(var(reshape(init::kaiming_normal({400, 300}, g, std::sqrt(Scalar(2))), {-1}), 0).item()) ==
        Approx(std::sqrt(2.0 / 400)).epsilon(0.03));
  const Tensor ku = init::kaiming_uniform({50, 10}, g, 1);
  for (Scalar v : ku.to_vector()) CHECK(std::abs(v) <= std::sqrt(Scalar(3) / 50));
  CHECK(init::fans({3, 4, 5}).in == 4);  // per-head [H, in, out]
  CHECK(init::fans({7}).out == 1);
  CHECK(Init::zeros().make({2, 2}, g).to_vector() == std::vector<Scalar>(4, 0));
}

TEST_CASE("linear computes x W + b over the last axis of any rank", "[linear]") {
  Generator gen(0);
  Linear linear(LinearOptions{.in_features = 2, .out_features = 3}, gen);
  set_parameter(linear, "weight", {1, 2, 3, 4, 5, 6});  // W [in=2, out=3]
  set_parameter(linear, "bias", {1, 0, -1});
  // [1, 1] W = [5, 7, 9]; + b = [6, 7, 8]. [1, 0] W + b = [2, 2, 2].
  CHECK_CLOSE(linear(Tensor::from({1, 1, 1, 0}, {2, 1, 2})), Tensor::from({6, 7, 8, 2, 2, 2}, {2, 1, 3}), 1e-6);
  CHECK_CLOSE(linear(Tensor::from({1, 1})), Tensor::from({6, 7, 8}), 1e-6);
  CHECK_THROWS_WITH(linear(Tensor::zeros({4, 3})), Catch::Contains("in=2") && Catch::Contains("[4, 3]"));
  Linear no_bias(LinearOptions{.in_features = 2, .out_features = 3, .bias = false}, gen);
  CHECK(no_bias.named_parameters().size() == 1);
  CHECK(linear.parameter("bias").shape() == Shape{3});
  CHECK_THROWS_WITH(linear.parameter("gain"), Catch::Contains("weight, bias"));
}

TEST_CASE("layer norm normalises the last axis, then applies gain and bias", "[layer_norm]") {
  LayerNorm norm(LayerNormOptions{.dim = 3});
  // [1, 2, 3]: mean 2, population variance 2/3; 1 / sqrt(2/3 + 1e-5) = 1.22473569.
  CHECK_CLOSE(norm(Tensor::from({1, 2, 3}, {1, 3})), Tensor::from({-1.22473569, 0, 1.22473569}, {1, 3}), 1e-5);
  set_parameter(norm, "weight", {2, 1, 1});
  set_parameter(norm, "bias", {0, 0, 1});
  CHECK_CLOSE(norm(Tensor::from({1, 2, 3, 3, 2, 1}, {2, 3})),
              Tensor::from({-2.44947138, 0, 2.22473569, 2.44947138, 0, -0.22473569}, {2, 3}), 1e-5);
  CHECK_THROWS_WITH(norm(Tensor::zeros({2, 4})), Catch::Contains("LayerNorm(dim=3)"));
}

TEST_CASE("embedding looks up rows by id", "[embedding]") {
  Generator gen(0);
  Embedding embed(EmbeddingOptions{.num_embeddings = 3, .dim = 2}, gen);
  set_parameter(embed, "weight", {0, 1, 10, 11, 20, 21});
  CHECK_CLOSE(embed.forward(Indices::from({2, 0, 2}, {1, 3})), Tensor::from({20, 21, 0, 1, 20, 21}, {1, 3, 2}), 0);
  CHECK_THROWS_AS(embed.forward(Indices::from({3}, {1})), std::out_of_range);
}

TEST_CASE("dropout is reproducible from its seed source and off in eval mode", "[dropout]") {
  Generator s1(9), s2(9);
  Dropout d1(0.25f, s1), d2(0.25f, s2);
  const Tensor x = Tensor::ones({4000});
  const Tensor y = d1(x);
  CHECK(y.to_vector() == d2(x).to_vector());
  int64_t zeros = 0;
  for (Scalar v : y.to_vector()) {
    if (v == 0) ++zeros;
    else CHECK(v == Approx(1 / 0.75));
  }
  CHECK(zeros / 4000.0 == Approx(0.25).margin(0.03));
  d1.eval();
  CHECK(d1(x).to_vector() == x.to_vector());
  CHECK_THROWS_AS(Dropout(1.0f, s1), std::invalid_argument);
}

TEST_CASE("feed-forward and sequential chain their layers with dotted parameter names", "[sequential]") {
  Generator gen(1);
  FeedForward ff(FeedForwardOptions{.d_model = 4, .d_ff = 8, .activation = ActivationKind::gelu}, gen);
  const Tensor x = Tensor::randn({2, 3, 4}, gen);
  CHECK(ff(x).shape() == Shape{2, 3, 4});
  CHECK(ff.parameter("in.weight").shape() == Shape{4, 8});
  // A name becomes an ActivationKind where it is read (a config), with the valid names listed.
  CHECK(parse_enum<ActivationKind>("gelu", "activation") == ActivationKind::gelu);
  CHECK_THROWS_WITH(parse_enum<ActivationKind>("tanh", "activation"),
                    Catch::Contains("activation: unknown 'tanh'") && Catch::Contains("relu, gelu"));

  auto first = std::make_shared<Linear>(LinearOptions{.in_features = 4, .out_features = 8}, gen);
  auto second = std::make_shared<Linear>(LinearOptions{.in_features = 8, .out_features = 4}, gen);
  Sequential seq({first, std::make_shared<Activation>(ActivationKind::relu), second});
  CHECK(seq.named_parameters()[2].first == "2.weight");
  CHECK_CLOSE(seq(x), second->forward(relu(first->forward(x))), 1e-6);
}
