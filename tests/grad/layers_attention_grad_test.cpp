#include "layers_gradcheck_helpers.h"

using namespace qkv;

TEST_CASE("multi-head self-attention gradients with causal and padding masks, every scorer", "[grad][layers]") {
  // Batch 1 pads its last key, so the causal rows of batch 1 see fewer keys.
  const Tensor padding = Tensor::from({0, 0, 0, 0, 0, 1}, {2, 3});
  for (const char* kind : {"additive", "dot", "general", "scaled_dot"})
    for (bool causal : {false, true}) {
      INFO("scorer " << kind << " causal " << causal);
      Generator gen(21);
      MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2, .scorer = {.kind = kind}, .causal = causal}, gen);
      randomise_parameters(attn, gen, 0.3);
      check_layer_gradients(attn, [&](const std::vector<Tensor>& in) { return attn.forward(in[0], padding).output; },
                            {Tensor::randn({2, 3, 4}, gen)});
    }
}

TEST_CASE("attention-weight gradients flow back to inputs and parameters", "[grad][layers]") {
  Generator gen(22);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2, .causal = true}, gen);
  check_layer_gradients(attn, [&](const std::vector<Tensor>& in) { return attn.forward(in[0]).weights; },
                        {Tensor::randn({1, 3, 4}, gen)});
}

TEST_CASE("cross-attention gradients w.r.t. both inputs, with relative bias and d_head != d_model/heads", "[grad][layers]") {
  Generator gen(23);
  MultiHeadAttention attn(AttentionOptions{.d_model = 4, .heads = 2, .d_head = 3, .d_kv_input = 2,
                                           .scorer = {.kind = "general", .relative_bias = {.kind = RelativeBiasKind::t5, .num_buckets = 8, .max_distance = 16, .init_stddev = 0.5}}},
                          gen);
  randomise_parameters(attn, gen, 0.3);
  const Tensor padding = Tensor::from({0, 1, 0, 0, 0, 0}, {2, 3});
  check_layer_gradients(attn, [&](const std::vector<Tensor>& in) { return attn.forward_cross(in[0], in[1], padding).output; },
                        {Tensor::randn({2, 2, 4}, gen), Tensor::randn({2, 3, 2}, gen)});
}

TEST_CASE("encoder block gradients (pre-LN, residuals, feed-forward) with padding", "[grad][layers]") {
  Generator gen(24);
  EncoderBlock block(EncoderBlockOptions{.attention = {.d_model = 4, .heads = 2, .scorer = {.kind = "additive"}},
                                         .d_ff = 6, .activation = ActivationKind::gelu},
                     gen);
  randomise_parameters(block, gen, 0.2);
  const Tensor padding = Tensor::from({0, 0, 1}, {1, 3});
  check_layer_gradients(block, [&](const std::vector<Tensor>& in) { return block.forward(in[0], padding).output; },
                        {Tensor::randn({1, 3, 4}, gen)});
}

TEST_CASE("sequence model gradients, token and continuous input", "[grad][layers]") {
  Generator gen(25);
  SequenceModel tokens_model(SequenceModelOptions{.vocab_size = 3, .num_classes = 2, .max_len = 3, .d_model = 4,
                                                  .heads = 2, .d_ff = 4, .activation = ActivationKind::gelu, .positional = PositionKind::learned,
                                                  .scorer = {.relative_bias = {.kind = RelativeBiasKind::clipped, .window = 1}}, .causal = true},
                             gen);
  randomise_parameters(tokens_model, gen, 0.1);
  const Indices ids = Indices::from({0, 2, 1}, {1, 3});
  check_layer_gradients(tokens_model, [&](const std::vector<Tensor>&) { return tokens_model.forward(ids).logits; }, {});

  SequenceModel features_model(SequenceModelOptions{.input_features = 3, .num_classes = 2, .max_len = 3, .d_model = 4,
                                                    .heads = 1, .d_head = 2, .d_ff = 4, .activation = ActivationKind::gelu},
                               gen);
  randomise_parameters(features_model, gen, 0.1);
  check_layer_gradients(features_model, [&](const std::vector<Tensor>& in) { return features_model.forward(in[0]).logits; },
                        {Tensor::randn({1, 3, 3}, gen)});
}
