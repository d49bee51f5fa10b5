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
  o.tasks = {{"reverse", {{"seq_len", 7}, {"vocab", 6}}, 0}};
  o.base.model.d_model = 16;
  o.base.model.heads = 2;
  o.base.model.layers = 1;
  o.base.model.d_ff = 32;
  o.base.steps = 20;
  o.base.eval_interval = 10;
  o.base.eval_batches = 1;
  o.base.batch_size = 16;
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
  // The relative bias adds one scalar per head and clipped distance: 2 heads x (2 * 8 + 1).
  const ScorerComparisonOptions o = tiny_comparison("");
  CHECK(rows[1].scorer == "scaled_dot_relative");
  TrainingProbeOptions t = o.base;
  t.task = "reverse";
  t.task_options = o.tasks[0].task_options;
  t.steps = 1;
  t.model.scorer = comparison_scorer("scaled_dot", 8);
  const int64_t plain = run_training_probe(t).parameter_count;
  CHECK(rows[1].result.parameter_count - plain == 2 * 17);
  CHECK(rows[1].result.median_seconds_per_step > 0);
}
