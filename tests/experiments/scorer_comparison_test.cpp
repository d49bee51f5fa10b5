#include <catch2/catch.hpp>

#include <sstream>

#include "../io/test_files.h"
#include "experiments/probe_config.h"
#include "experiments/scorer_comparison.h"
#include "qkv.h"

using namespace qkv;

namespace {
ScorerComparisonOptions tiny_comparison(const std::string& out) {
  ScorerComparisonOptions o;
  o.scorers = {"additive", "scaled_dot_relative"};
  o.seeds = 1;
  o.tasks = {{"reverse", {{"task", {{"name", "reverse"}, {"seq_len", 7}, {"vocab", 6}}}}}};
  o.run = {{"model", {{"d_model", 16}, {"heads", 2}, {"layers", 1}, {"d_ff", 32}}},
           {"task", {{"eval_batches", 1}}},
           {"train", {{"steps", 20}, {"batch_size", 16}, {"eval_interval", 10}}}};
  o.out_dir = out;
  o.config_source = "test";
  return o;
}
}  // namespace

TEST_CASE("scorers: two runs of the same config give identical result tables") {
  const auto a = qkv_test::scratch_dir("scorers_run_a"), b = qkv_test::scratch_dir("scorers_run_b");
  std::ostringstream log;
  const auto rows = run_scorer_comparison(tiny_comparison(a.string()), log);
  run_scorer_comparison(tiny_comparison(b.string()), log);
  REQUIRE(rows.size() == 2);
  const std::string first = qkv_test::slurp(a / "scorers.csv");
  INFO(first);
  CHECK(first.find("reverse,additive,0,") != std::string::npos);
  CHECK(first.find("ms_per_step") == std::string::npos);  // timings live in timing.csv
  CHECK(first == qkv_test::slurp(b / "scorers.csv"));
  CHECK(qkv_test::slurp(a / "curve_reverse_additive_seed0.csv") == qkv_test::slurp(b / "curve_reverse_additive_seed0.csv"));
  CHECK(qkv_test::slurp(a / "timing.csv").find("ms_per_step_median") != std::string::npos);
  const std::string summary = qkv_test::slurp(a / "summary.csv");
  CHECK(summary.find("ms_per_step") == std::string::npos);  // its timing lives in timing_summary.csv
  CHECK(summary == qkv_test::slurp(b / "summary.csv"));
  CHECK(qkv_test::slurp(b / "summary.json") == qkv_test::slurp(a / "summary.json"));
  CHECK(qkv_test::slurp(a / "timing_summary.csv").find("mean_ms_per_step_median") != std::string::npos);
  // The relative bias adds one scalar per head and clipped distance: 2 heads x (2 * 8 + 1).
  CHECK(rows[1].scorer == "scaled_dot_relative");
  RunConfig plain_config = rows[1].result.config;
  plain_config.model.relative_bias = RelativeBiasKind::none;
  Generator gen(0);
  const int64_t plain = build_model(plain_config.model, *rows[1].result.task, gen)->parameter_count();
  CHECK(rows[1].result.parameter_count - plain == 2 * 17);
  CHECK(rows[1].result.median_seconds_per_step > 0);
  // The report opens with the verdict of these rows: no scaled_dot among them, so it cannot tell.
  const std::vector<ScorerOutcome> outcomes = scorer_outcomes(rows);
  REQUIRE(outcomes.size() == 2);
  CHECK(outcomes[0].runs == 1);
  CHECK(outcomes[0].mean_accuracy == rows[0].result.curve.back().eval_accuracy);
  const std::string verdict = scorer_comparison_verdict(outcomes);
  CHECK_THAT(verdict, Catch::Contains("cannot tell (scaled_dot was not among the scorers)") &&
                          Catch::Contains("reverse: `additive` "));
  CHECK(qkv_test::slurp(a / "report.md").rfind("# Attention scorers compared\n\n" + verdict + "\n\n", 0) == 0);
}

TEST_CASE("scorers' verdict follows the numbers: supported, contradicted, or cannot tell", "[experiments]") {
  std::vector<ScorerOutcome> outcomes{
      {.task = "recall", .scorer = "dot", .runs = 2, .reached_90 = 0, .ms_per_step = 1.08},
      {.task = "recall", .scorer = "scaled_dot", .runs = 2, .reached_90 = 2, .ms_per_step = 0.7212},
      {.task = "sort", .scorer = "dot", .runs = 2, .reached_90 = 2, .ms_per_step = 1.342},
      {.task = "sort", .scorer = "scaled_dot", .runs = 2, .reached_90 = 2, .ms_per_step = 1.052}};
  const std::string supported = scorer_comparison_verdict(outcomes);
  CHECK_THAT(supported, Catch::Contains("**Verdict: this run supports it.**") &&
                            Catch::Contains("every run of every task: `scaled_dot`.") &&
                            Catch::Contains("recall: `dot` 0 of 2 at 1.08, `scaled_dot` 2 of 2 at 0.721; "
                                            "sort: `dot` 2 of 2 at 1.34, `scaled_dot` 2 of 2 at 1.05."));
  // Split seeds of scaled_dot on one task: these runs cannot tell.
  outcomes[1].reached_90 = 1;
  CHECK_THAT(scorer_comparison_verdict(outcomes), Catch::Contains("cannot tell (scaled_dot learned in some seeds"));
  // No scaled_dot run learns recall while every dot run does: contradicted.
  outcomes[1].reached_90 = 0;
  outcomes[0].reached_90 = 2;
  CHECK_THAT(scorer_comparison_verdict(outcomes),
             Catch::Contains("**Verdict: this run contradicts it.**") && Catch::Contains("every task: `dot`."));
  CHECK_THAT(scorer_comparison_verdict({outcomes[0], outcomes[2]}),
             Catch::Contains("cannot tell (scaled_dot was not among the scorers)"));
}
