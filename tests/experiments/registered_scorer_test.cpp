// A scorer a program registers goes everywhere a built-in one does in the experiments: the
// init probe, probe.scorers of vanishing and scale_alternatives, position's scorer, and
// the training sweeps, whose runs name it in their run config.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "../io/test_files.h"
#include "experiments/init_probe.h"
#include "experiments/position.h"
#include "experiments/scale_alternatives.h"
#include "experiments/scorer_comparison.h"
#include "experiments/vanishing.h"
#include "qkv.h"

using namespace qkv;

namespace {
// q.k / (2 sqrt(d_k)): half of scaled_dot's scores, so the probe's numbers are known by hand.
void register_half_scaled_dot() {
  register_scorer("half_scaled_dot_test", [](const ScorerOptions& o, Generator&) {
    return std::make_shared<ScaledDotScorer>(ScoreScale::by(Scalar(0.5 / std::sqrt(static_cast<double>(o.d_k)))));
  });
}

const InitProbeRow& row_of(const std::vector<InitProbeRow>& rows, const std::string& scorer, int64_t d_k) {
  for (const auto& r : rows)
    if (r.scorer == scorer && r.d_k == d_k) return r;
  throw std::logic_error("no row " + scorer);
}
}  // namespace

TEST_CASE("registered scorer: the init probe measures it beside the built-in ones", "[experiments]") {
  register_half_scaled_dot();
  InitProbeOptions o;
  o.d_ks = {4, 64};
  o.scorers = {"scaled_dot", "half_scaled_dot_test"};
  o.seeds = 3;
  const std::vector<InitProbeRow> rows = run_init_probe(o);
  for (int64_t d_k : o.d_ks) {
    INFO("d_k " << d_k);
    // Same seeds, same q and k: exactly half the spread.
    CHECK(row_of(rows, "half_scaled_dot_test", d_k).score_std ==
          Approx(0.5 * row_of(rows, "scaled_dot", d_k).score_std).epsilon(1e-5));
    CHECK(std::isnan(row_of(rows, "half_scaled_dot_test", d_k).theory_std));
    // Softer scores: more entropy than scaled_dot's.
    CHECK(row_of(rows, "half_scaled_dot_test", d_k).mean_entropy > row_of(rows, "scaled_dot", d_k).mean_entropy);
  }
}

TEST_CASE("registered scorer: every experiment's config accepts it, an unknown name is refused", "[experiments]") {
  register_half_scaled_dot();
  const auto dir = qkv_test::scratch_dir("registered_scorer_configs");
  const auto write = [&](const std::string& name, const std::string& text) {
    qkv_test::spit(dir / name, text);
    return (dir / name).string();
  };
  const VanishingOptions v = load_vanishing_options(
      write("v.json", R"({"probe": {"scorers": ["scaled_dot", "half_scaled_dot_test"]}})"));
  CHECK(v.probe.scorers.back() == "half_scaled_dot_test");
  const ScaleAlternativesOptions a =
      load_scale_alternatives_options(write("a.json", R"({"scorers": ["dot", "half_scaled_dot_test"]})"));
  CHECK(scale_alternatives_training_runs(a).back().model.scorer == "half_scaled_dot_test");
  const PositionOptions p = load_position_options(write("p.json", R"({"scorer": "half_scaled_dot_test"})"));
  for (const RunConfig& run : position_training_runs(p)) CHECK(run.model.scorer == "half_scaled_dot_test");
  const ScorerComparisonOptions s = load_scorer_comparison_options(write("s.json", R"({"scorers": ["half_scaled_dot_test"]})"));
  CHECK(s.scorers == std::vector<std::string>{"half_scaled_dot_test"});
  CHECK_THROWS_WITH(load_vanishing_options(write("bad.json", R"({"probe": {"scorers": ["half_scaled_dot"]}})")),
                    Catch::Contains("probe.scorers") && Catch::Contains("half_scaled_dot_test"));
}

TEST_CASE("registered scorer: a training sweep trains it into an ordinary run folder", "[experiments]") {
  register_half_scaled_dot();
  const auto dir = qkv_test::scratch_dir("registered_scorer_sweep");
  ScorerComparisonOptions o;
  o.scorers = {"scaled_dot", "half_scaled_dot_test"};
  o.seeds = 1;
  o.tasks = {{"reverse", {{"task", {{"name", "reverse"}, {"seq_len", 5}, {"vocab", 6}}}}}};
  o.run = {{"model", {{"d_model", 8}, {"heads", 2}, {"layers", 1}, {"d_ff", 8}}},
           {"task", {{"eval_batches", 1}}},
           {"train", {{"steps", 4}, {"batch_size", 4}, {"eval_interval", 2}}}};
  o.out_dir = dir.string();
  o.config_source = "test";
  std::ostringstream log;
  const auto rows = run_scorer_comparison(o, log);
  REQUIRE(rows.size() == 2);
  const TrainedRun& run = rows[1].result;
  CHECK(run.config.model.scorer == "half_scaled_dot_test");
  CHECK(run.curve.size() == 2);  // steps 2 and 4
  CHECK(run.model);
  // The folder's config.json names the kind, so train --resume and --eval rebuild it.
  CHECK_THAT(qkv_test::slurp(dir / "runs" / "reverse_half_scaled_dot_test_seed0" / "config.json"),
             Catch::Contains("\"scorer\": \"half_scaled_dot_test\""));
}
