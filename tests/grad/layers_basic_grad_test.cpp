#include "layers_gradcheck_helpers.h"

using namespace qkv;

TEST_CASE("linear gradients (input, weight, bias)", "[grad][layers]") {
  Generator gen(1);
  Linear linear(LinearOptions{.in_features = 3, .out_features = 2}, gen);
  randomise_parameters(linear, gen);
  check_layer_gradients(linear, [&](const std::vector<Tensor>& in) { return linear(in[0]); },
                        {Tensor::randn({2, 2, 3}, gen)});
}

TEST_CASE("layer norm gradients (input, gain, bias)", "[grad][layers]") {
  Generator gen(2);
  LayerNorm norm(LayerNormOptions{.dim = 4});
  randomise_parameters(norm, gen);
  check_layer_gradients(norm, [&](const std::vector<Tensor>& in) { return norm(in[0]); },
                        {Tensor::randn({3, 4}, gen)});
}

TEST_CASE("embedding gradients (table, repeated ids accumulate)", "[grad][layers]") {
  Generator gen(3);
  Embedding embed(EmbeddingOptions{.num_embeddings = 4, .dim = 3}, gen);
  const Indices ids = Indices::from({1, 3, 1, 0}, {2, 2});
  check_layer_gradients(embed, [&](const std::vector<Tensor>&) { return embed.forward(ids); }, {});
}

TEST_CASE("dropout gradients in train mode with a fixed mask", "[grad][layers]") {
  Generator gen(4);
  Module none;  // dropout has no parameters; each call rebuilds it from the same seed
  check_layer_gradients(none, [](const std::vector<Tensor>& in) {
    Generator seed_source(7);
    Dropout drop(0.4, seed_source);
    return drop(in[0]);
  }, {Tensor::randn({3, 5}, gen)});
}

TEST_CASE("feed-forward gradients, relu and gelu", "[grad][layers]") {
  for (ActivationKind activation : {ActivationKind::relu, ActivationKind::gelu}) {
    INFO(enum_name(activation));
    Generator gen(5);
    FeedForward ff(FeedForwardOptions{.d_model = 3, .d_ff = 4, .activation = activation}, gen);
    randomise_parameters(ff, gen, 0.2);
    check_layer_gradients(ff, [&](const std::vector<Tensor>& in) { return ff(in[0]); },
                          {Tensor::randn({2, 2, 3}, gen)});
  }
}

TEST_CASE("sequential gradients through its chain", "[grad][layers]") {
  Generator gen(6);
  Sequential seq;
  seq.add(std::make_shared<Linear>(LinearOptions{.in_features = 3, .out_features = 4}, gen))
      .add(std::make_shared<Activation>(ActivationKind::gelu))
      .add(std::make_shared<LayerNorm>(LayerNormOptions{.dim = 4}));
  randomise_parameters(seq, gen, 0.2);
  check_layer_gradients(seq, [&](const std::vector<Tensor>& in) { return seq(in[0]); }, {Tensor::randn({2, 3}, gen)});
}

TEST_CASE("positional encoding gradients, learned table and fixed sinusoid", "[grad][layers]") {
  for (PositionKind kind : {PositionKind::learned, PositionKind::sinusoidal}) {
    INFO(enum_name(kind));
    Generator gen(7);
    PositionalEncoding pe(PositionalOptions{.kind = kind, .max_len = 5, .d_model = 3}, gen);
    check_layer_gradients(pe, [&](const std::vector<Tensor>& in) { return mul(pe(in[0]), in[0]); },
                          {Tensor::randn({2, 3, 3}, gen)});
  }
}
