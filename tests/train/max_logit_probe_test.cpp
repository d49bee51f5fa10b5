// The max-logit probe: the largest attention score of any row per head, from the fused
// kernel's row statistics (the weights alone do not carry it), written to probes.jsonl and
// read back, NaN where an older file has none.
#include <catch2/catch.hpp>

#include <cmath>

#include "qkv.h"

using namespace qkv;

TEST_CASE("max logit probe: the largest score of any row, per head", "[train][probes]") {
  // [B=1, H=2, N=2, stats]: L, the row's largest score, entropy, sum w^2, sum w^3.
  const Tensor rows = Tensor::from({0.0, 1.5, 0.5, 0.5, 0.25,  //
                                    0.0, 3.0, 0.5, 0.5, 0.25,  //
                                    0.0, -0.5, 0.5, 0.5, 0.25,  //
                                    0.0, 0.25, 0.5, 0.5, 0.25},
                                   {1, 2, 2, kAttentionRowStats});
  const std::vector<SoftmaxStats> heads = softmax_stats_per_head_from_rows(rows);
  REQUIRE(heads.size() == 2);
  CHECK(heads[0].max_logit == 3.0);
  CHECK(heads[1].max_logit == 0.25);
  // From weights there are no scores to take the largest of.
  CHECK(std::isnan(softmax_stats_per_head(Tensor::full({1, 1, 2, 2}, 0.5))[0].max_logit));
}

TEST_CASE("max logit probe: read back from probes.jsonl, NaN where a row lacks it", "[train][probes]") {
  const std::string with = R"({"step": 1, "attention": [[{"entropy": 1, "jacobian_norm": 0.5, "dead_fraction": 0,)"
                           R"( "max_weight": 0.9, "max_logit": 4.5}]], "parameters": {}})";
  const std::string without = R"({"step": 2, "attention": [[{"entropy": 1, "jacobian_norm": 0.5, "dead_fraction": 0,)"
                              R"( "max_weight": 0.9}]], "parameters": {}})";
  const ProbesTable table = parse_probes_jsonl(with + "\n" + without + "\n", "p.jsonl");
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].max_logits == std::vector<double>{4.5});
  REQUIRE(table.rows[1].max_logits.size() == 1);
  CHECK(std::isnan(table.rows[1].max_logits[0]));
}
