// RoPE, ALiBi, QK-norm, learned temperature and 1/d_k against PyTorch (float64, from the
// papers' formulas): scores and every gradient of sum(scores * r), two heads.
// Values from tests/reference/position_scorers_reference.py (rerun it to regenerate).
#include <catch2/catch.hpp>

#include "position_scorers_reference_values.h"
#include "test_helpers.h"

using namespace qkv;

namespace {

struct ReferenceScorer {
  const char* kind;
  PositionKind position;
  const std::vector<double>* parameter;  // the one parameter's value, or null
  const std::vector<double>& scores;
  const std::vector<double>& grad_queries;
  const std::vector<double>& grad_keys;
  const std::vector<double>* grad_parameter;
};

}  // namespace

TEST_CASE("position-aware and temperature scorers match PyTorch, values and gradients", "[layers][reference]") {
  const std::vector<ReferenceScorer> cases{
      {"scaled_dot", PositionKind::rope, nullptr, ref_scaled_dot_rope_scores, ref_scaled_dot_rope_grad_queries,
       ref_scaled_dot_rope_grad_keys, nullptr},
      {"mup_dot", PositionKind::alibi, nullptr, ref_mup_dot_alibi_scores, ref_mup_dot_alibi_grad_queries,
       ref_mup_dot_alibi_grad_keys, nullptr},
      {"qk_norm", PositionKind::rope, &ref_qk_norm_scale, ref_qk_norm_rope_scores, ref_qk_norm_rope_grad_queries,
       ref_qk_norm_rope_grad_keys, &ref_qk_norm_rope_grad_parameter},
      {"learned_temperature", PositionKind::alibi, &ref_log_temperature, ref_learned_temperature_alibi_scores,
       ref_learned_temperature_alibi_grad_queries, ref_learned_temperature_alibi_grad_keys,
       &ref_learned_temperature_alibi_grad_parameter},
  };
  for (const ReferenceScorer& c : cases) {
    INFO(c.kind << " with " << enum_name(c.position));
    Generator gen(0);
    auto scorer = make_scorer(ScorerOptions{.kind = c.kind, .heads = 2, .d_q = 4, .d_k = 4, .position = c.position}, gen);
    const auto params = scorer->named_parameters();
    REQUIRE(params.size() == (c.parameter ? 1u : 0u));
    if (c.parameter) set_parameter(*scorer, params.front().first, *c.parameter);
    Tensor q = tensor_of(ref_queries, {2, 3, 4}).requires_grad_();
    Tensor k = tensor_of(ref_keys, {2, 4, 4}).requires_grad_();
    const Tensor scores = scorer->scores(q, k);
    sum(mul(scores, tensor_of(ref_r, {2, 3, 4}))).backward();
    CHECK_CLOSE(scores, tensor_of(c.scores, {2, 3, 4}), 1e-5);
    CHECK_CLOSE(q.grad(), tensor_of(c.grad_queries, {2, 3, 4}), 1e-5);
    CHECK_CLOSE(k.grad(), tensor_of(c.grad_keys, {2, 4, 4}), 1e-5);
    if (c.grad_parameter) CHECK_CLOSE(params.front().second.grad(), tensor_of(*c.grad_parameter, {2}), 1e-5);
  }
}

TEST_CASE("rotary_embedding matches PyTorch's complex rotation", "[layers][reference]") {
  CHECK_CLOSE(rotary_embedding(tensor_of(ref_queries, {2, 3, 4})), tensor_of(ref_rope_queries, {2, 3, 4}), 1e-6);
}

TEST_CASE("ALiBi slopes are the paper's get_slopes", "[layers][reference]") {
  for (const auto* expected : {&ref_alibi_slopes_6, &ref_alibi_slopes_8, &ref_alibi_slopes_12}) {
    const std::vector<double> slopes = alibi_slopes(static_cast<int64_t>(expected->size()));
    INFO(expected->size() << " heads");
    REQUIRE(slopes.size() == expected->size());
    for (size_t h = 0; h < slopes.size(); ++h) CHECK(slopes[h] == Approx((*expected)[h]).epsilon(1e-9));
  }
}
