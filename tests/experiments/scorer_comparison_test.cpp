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
  // The relative bias adds one scalar per head and clipped distance: 2 heads x (2 * 8 + 1).
  CHECK(rows[1].scorer == "scaled_dot_relative");
  RunConfig plain_config = rows[1].result.config;
  plain_config.model.relative_bias = RelativeBiasKind::none;
  Generator gen(0);
  const int64_t plain = build_model(plain_config.model, *rows[1].result.task, gen)->parameter_count();
  CHECK(rows[1].result.parameter_count - plain == 2 * 17);
  CHECK(rows[1].result.median_seconds_per_step > 0);
}
