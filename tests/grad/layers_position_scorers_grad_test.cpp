#include "layers_gradcheck_helpers.h"

using namespace qkv;

TEST_CASE("rotary_embedding gradient, with and without an offset", "[grad][layers]") {
  Generator gen(21);
  for (int64_t offset : {0, 5}) {
    INFO("offset " << offset);
    const GradcheckResult r =
        gradcheck([&](const std::vector<Tensor>& in) { return rotary_embedding(in[0], 100, offset); },
                  {Tensor::randn({2, 3, 6}, gen)});
    INFO(r.report());
    CHECK(r.passed);
  }
}

TEST_CASE("mup_dot, qk_norm and learned_temperature gradients, alone, with RoPE and with ALiBi", "[grad][layers]") {
  for (const char* kind : {"mup_dot", "qk_norm", "learned_temperature"})
    for (PositionKind position : {PositionKind::none, PositionKind::rope, PositionKind::alibi})
      for (int64_t heads : {1, 2}) {
        INFO("scorer " << kind << " position " << enum_name(position) << " heads " << heads);
        Generator gen(22);
        auto scorer = make_scorer(ScorerOptions{.kind = kind, .heads = heads, .d_q = 4, .d_k = 4, .position = position}, gen);
        randomise_parameters(*scorer, gen);
        check_layer_gradients(*scorer, [&](const std::vector<Tensor>& in) { return scorer->scores(in[0], in[1]); },
                              {Tensor::randn({2, heads, 3, 4}, gen), Tensor::randn({2, heads, 5, 4}, gen)});
      }
}

TEST_CASE("RoPE and ALiBi around the existing scorers and a relative bias", "[grad][layers]") {
  for (const char* kind : {"additive", "general", "scaled_dot"})
    for (PositionKind position : {PositionKind::rope, PositionKind::alibi}) {
      INFO("scorer " << kind << " position " << enum_name(position));
      Generator gen(23);
      auto scorer = make_scorer(ScorerOptions{.kind = kind, .heads = 2, .d_q = 4, .d_k = 4, .additive_hidden = 3,
                                              .relative_bias = {.kind = RelativeBiasKind::clipped, .window = 1, .init_stddev = 0.5},
                                              .position = position},
                                gen);
      check_layer_gradients(*scorer, [&](const std::vector<Tensor>& in) { return scorer->scores(in[0], in[1]); },
                            {Tensor::randn({2, 2, 3, 4}, gen), Tensor::randn({2, 2, 4, 4}, gen)});
    }
}
