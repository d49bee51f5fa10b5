#include "test_helpers.h"

using namespace qkv;

namespace {
SequenceModelOptions small_options() {
  return SequenceModelOptions{.vocab_size = 5, .num_classes = 3, .max_len = 6, .d_model = 8, .heads = 2, .layers = 2, .d_ff = 16};
}
}  // namespace

TEST_CASE("sequence model maps token ids [B, N] to logits [B, N, classes] with dotted names", "[sequence_model]") {
  Generator gen(0);
  SequenceModel model(small_options(), gen);
  const Indices tokens = Indices::from({0, 1, 2, 3, 4, 0, 1, 2}, {2, 4});
  SequenceModelOutput out = model.forward(tokens);
  CHECK(out.logits.shape() == Shape{2, 4, 3});
  CHECK(out.attention_weights.empty());
  CHECK(model.parameter("blocks.1.attn.q.weight").shape() == Shape{8, 8});
  CHECK(model.parameter("embed.weight").shape() == Shape{5, 8});
  CHECK(model.parameter("head.weight").shape() == Shape{8, 3});
  CHECK_THROWS_WITH(model.forward(Indices::from({0, 1, 2, 3, 4, 0, 1}, {1, 7})), Catch::Contains("exceeds max_len 6"));
  CHECK_THROWS_WITH(model.forward(Tensor::zeros({1, 2, 3})), Catch::Contains("token ids"));
}

TEST_CASE("sequence model keeps every layer's attention weights when asked", "[sequence_model]") {
  Generator gen(0);
  SequenceModelOptions options = small_options();
  options.keep_attention_weights = true;
  options.causal = true;
  SequenceModel model(options, gen);
  SequenceModelOutput out = model.forward(Indices::from({0, 1, 2, 3}, {1, 4}));
  REQUIRE(out.attention_weights.size() == 2);
  CHECK(out.attention_weights[1].shape() == Shape{1, 2, 4, 4});
  CHECK(out.attention_weights[0].at({0, 1, 0, 3}) == 0);  // causal
  model.keep_attention_weights(false);
  CHECK(model.forward(Indices::from({0, 1}, {1, 2})).attention_weights.empty());
}

TEST_CASE("sequence model takes continuous features through a Linear input projection", "[sequence_model]") {
  Generator gen(0);
  SequenceModel model(SequenceModelOptions{.input_features = 6, .num_classes = 2, .max_len = 9, .d_model = 8,
                                           .positional = PositionKind::learned, .scorer = {.kind = "additive"}},
                      gen);
  CHECK(model.forward(Tensor::randn({3, 9, 6}, gen)).logits.shape() == Shape{3, 9, 2});
  CHECK(model.parameter("input.weight").shape() == Shape{6, 8});
  CHECK_THROWS_WITH(model.forward(Indices::from({0}, {1, 1})), Catch::Contains("continuous features"));
}

TEST_CASE("sequence model is reproducible from its seed", "[sequence_model]") {
  Generator g1(21), g2(21), g3(22);
  SequenceModel a(small_options(), g1), b(small_options(), g2), c(small_options(), g3);
  const Indices tokens = Indices::from({1, 2, 3}, {1, 3});
  CHECK(a.forward(tokens).logits.to_vector() == b.forward(tokens).logits.to_vector());
  CHECK(a.forward(tokens).logits.to_vector() != c.forward(tokens).logits.to_vector());
}

TEST_CASE("sequence model options are validated with the valid values listed", "[sequence_model]") {
  Generator gen(0);
  auto with = [](auto change) {
    SequenceModelOptions o = small_options();
    change(o);
    return o;
  };
  CHECK_THROWS_WITH(parse_enum<PositionKind>("rotary", "positional"),
                    Catch::Contains("'rotary'") && Catch::Contains("none, sinusoidal, learned, rope, alibi"));
  CHECK_THROWS_WITH(SequenceModel(with([](auto& o) { o.scorer.kind = "cosine"; }), gen), Catch::Contains("scaled_dot"));
  CHECK_THROWS_WITH(SequenceModel(with([](auto& o) { o.heads = 3; }), gen), Catch::Contains("does not divide"));
  CHECK_THROWS_AS(SequenceModel(with([](auto& o) { o.vocab_size = 0; }), gen), std::invalid_argument);
}

TEST_CASE("sequence model learns to output each sequence's first token (needs attention and position)", "[sequence_model]") {
  Generator gen(3);
  SequenceModel model(SequenceModelOptions{.vocab_size = 4, .num_classes = 4, .max_len = 4, .d_model = 16, .heads = 2, .layers = 1, .d_ff = 32}, gen);
  std::vector<int64_t> ids, targets;
  for (int64_t s = 0; s < 16; ++s) {
    const int64_t first = s % 4;
    for (int64_t i = 0; i < 4; ++i) {
      ids.push_back(i == 0 ? first : gen.integer(0, 4));
      targets.push_back(first);
    }
  }
  const Indices tokens = Indices::from(ids, {16, 4}), labels = Indices::from(targets, {16, 4});
  auto loss_now = [&] { return cross_entropy(model.forward(tokens).logits, labels); };
  const double initial = loss_now().item();
  for (int step = 0; step < 60; ++step) {
    model.zero_grad();
    loss_now().backward();
    NoGradGuard no_grad;
    for (Tensor p : model.parameters())
      for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] -= Scalar(0.1) * p.grad().data()[i];
  }
  CHECK(loss_now().item() < 0.3 * initial);
}
