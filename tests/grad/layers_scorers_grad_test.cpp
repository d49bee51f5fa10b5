#include "layers_gradcheck_helpers.h"

using namespace qkv;

TEST_CASE("every scorer's gradients w.r.t. queries, keys and parameters, with and without relative bias", "[grad][layers]") {
  for (const char* kind : {"additive", "dot", "general", "scaled_dot"})
    for (RelativeBiasKind bias : {RelativeBiasKind::none, RelativeBiasKind::clipped, RelativeBiasKind::t5})
      for (int64_t heads : {1, 2}) {
        INFO("scorer " << kind << " relative bias " << enum_name(bias) << " heads " << heads);
        Generator gen(11);
        auto scorer = make_scorer(ScorerOptions{.kind = kind, .heads = heads, .d_q = 3, .d_k = 3, .additive_hidden = 2,
                                                .relative_bias = {.kind = bias, .window = 1, .num_buckets = 8,
                                                                  .max_distance = 16, .init_stddev = 0.5}},
                                  gen);
        check_layer_gradients(*scorer, [&](const std::vector<Tensor>& in) { return scorer->scores(in[0], in[1]); },
                              {Tensor::randn({2, heads, 3, 3}, gen), Tensor::randn({2, heads, 4, 3}, gen)});
      }
}

TEST_CASE("scaled dot gradients for every scale mode", "[grad][layers]") {
  for (ScoreScale scale : {ScoreScale::inverse_sqrt_dk(), ScoreScale::none(), ScoreScale::by(0.3)}) {
    INFO(scale.str());
    Generator gen(12);
    ScaledDotScorer scorer(scale);
    check_layer_gradients(scorer, [&](const std::vector<Tensor>& in) { return scorer(in[0], in[1]); },
                          {Tensor::randn({2, 3}, gen), Tensor::randn({4, 3}, gen)});
  }
}

TEST_CASE("general and additive gradients with d_q != d_k", "[grad][layers]") {
  for (const char* kind : {"additive", "general"}) {
    INFO(kind);
    Generator gen(13);
    auto scorer = make_scorer(ScorerOptions{.kind = kind, .d_q = 2, .d_k = 3, .additive_hidden = 4}, gen);
    check_layer_gradients(*scorer, [&](const std::vector<Tensor>& in) { return scorer->scores(in[0], in[1]); },
                          {Tensor::randn({2, 3, 2}, gen), Tensor::randn({2, 4, 3}, gen)});
  }
}
