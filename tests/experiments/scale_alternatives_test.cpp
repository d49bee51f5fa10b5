// The scale_alternatives experiment on a small sweep: the init probe separates the
// alternatives as their formulas say, the learned scale is read back, the report states the
// verdicts, and the config is checked.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "experiments/scale_alternatives.h"
#include "qkv.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
const InitProbeRow& probe_row(const ScaleAlternativesResult& r, const std::string& scorer, int64_t d_k) {
  for (const auto& row : r.probe)
    if (row.scorer == scorer && row.d_k == d_k) return row;
  throw std::logic_error("no probe row " + scorer);
}

ScaleAlternativesOptions small_options(const std::string& dir) {
  ScaleAlternativesOptions o = default_scale_alternatives_options();
  o.out_dir = dir;
  o.probe.d_ks = {4, 256};
  o.probe.seeds = 4;
  o.training_d_ks = {8};
  o.seeds = 1;
  o.run.merge_patch({{"model", {{"d_model", 16}, {"d_ff", 16}}},
                     {"task", {{"eval_batches", 1}}},
                     {"train", {{"steps", 6}, {"eval_interval", 3}}}});
  return o;
}
}  // namespace

TEST_CASE("scale_alternatives: the probe separates the alternatives, the report says so", "[experiments]") {
  const fs::path dir = fs::path(QKV_BINARY_DIR) / "test-scratch" / "scale_alternatives";
  fs::remove_all(dir);
  std::ostringstream log;
  const ScaleAlternativesResult r = run_scale_alternatives(small_options(dir.string()), log);

  // Unscaled scores spread like sqrt(d_k) and kill rows; 1/d_k shrinks them like
  // 1/sqrt(d_k); QK-norm and the learned temperature (from 1/sqrt(d_k)) stay near 1.
  CHECK(probe_row(r, "dot", 256).score_std > 10);
  CHECK(probe_row(r, "dot", 256).dead_fraction > 0.1);
  CHECK(probe_row(r, "mup_dot", 256).score_std == Approx(1.0 / 16).epsilon(0.2));
  for (const char* alive : {"scaled_dot", "qk_norm", "learned_temperature"}) {
    INFO(alive);
    CHECK(probe_row(r, alive, 256).score_std == Approx(1).epsilon(0.2));
    CHECK(probe_row(r, alive, 256).dead_fraction == 0);
  }
  // Started at tau = 1, the learned temperature is the unscaled dot product at init.
  CHECK(probe_row(r, "learned_temperature_from_1", 256).score_std == Approx(probe_row(r, "dot", 256).score_std));

  // The learned scale is read back from the trained model, and only for learned scorers.
  REQUIRE(r.training.size() == 6);
  for (const auto& run : r.training) {
    INFO(run.scorer);
    const bool learned = run.scorer == "qk_norm" || run.scorer.rfind("learned_temperature", 0) == 0;
    CHECK(std::isnan(run.final_scale) == !learned);
  }
  const auto& qk = r.training[3];
  REQUIRE(qk.scorer == "qk_norm");
  CHECK(qk.final_scale == Approx(std::sqrt(8.0)).epsilon(0.05));  // 6 Adam steps of 1e-3 move g little

  std::ifstream in(dir / "report.md");
  std::stringstream report;
  report << in.rdbuf();
  CHECK_THAT(report.str(), Catch::Contains("- `dot` loses the gradient through the softmax") &&
                               Catch::Contains("- `qk_norm` keeps the gradient alive") &&
                               Catch::Contains("- `mup_dot` keeps the gradient alive, with near-uniform weights"));
  CHECK(fs::exists(dir / "training_summary.csv"));
  CHECK(fs::exists(dir / "probe_qk_norm.csv"));
  // The report opens with the verdict of these runs; 6 steps train nothing, not even
  // scaled_dot, so it cannot judge the training half.
  REQUIRE(r.outcomes.size() == 6);
  CHECK(r.outcomes[0].jacobian_norm_largest == probe_row(r, "dot", 256).mean_jacobian_norm);
  CHECK(r.outcomes[0].runs == 1);
  CHECK(report.str().rfind("# What else keeps the softmax alive\n\n" + r.verdict + "\n\n", 0) == 0);
  CHECK_THAT(r.verdict, Catch::Contains("cannot tell (scaled_dot did not train") &&
                            Catch::Contains("from d_k=4 to d_k=256") && Catch::Contains("Training at d_k=8"));
}

TEST_CASE("scale_alternatives' verdict follows the numbers: supported, contradicted, or cannot tell", "[experiments]") {
  const auto outcome = [](std::string scorer, double jacobian_largest, double dead, int64_t reached, double accuracy) {
    return ScaleAlternativeOutcome{.scorer = std::move(scorer), .probe_d_k_smallest = 4, .probe_d_k_largest = 1024,
                                   .jacobian_norm_smallest = 0.3, .jacobian_norm_largest = jacobian_largest,
                                   .dead_rows_largest = dead, .train_d_k = 1024, .runs = 2, .reached_90 = reached,
                                   .mean_accuracy = accuracy};
  };
  // The alive rule at its edges: half the Jacobian norm and 5% dead rows still count.
  CHECK(keeps_softmax_gradient_alive(outcome("a", 0.15, 0.05, 0, 0)));
  CHECK_FALSE(keeps_softmax_gradient_alive(outcome("a", 0.149, 0, 0, 0)));
  CHECK_FALSE(keeps_softmax_gradient_alive(outcome("a", 0.3, 0.06, 0, 0)));

  std::vector<ScaleAlternativeOutcome> outcomes{outcome("dot", 0.0581, 0.64, 0, 0.2188),
                                                outcome("scaled_dot", 0.303, 0, 2, 1),
                                                outcome("mup_dot", 0.2421, 0, 2, 0.998)};
  CHECK_THAT(scale_alternatives_verdict(outcomes),
             Catch::Contains("**Verdict: this run supports it.**") &&
                 Catch::Contains("from d_k=4 to d_k=1024, the softmax Jacobian norm, and the dead rows at d_k=1024: "
                                 "`dot` 0.3 -> 0.0581, 0.64 (lost); `scaled_dot` 0.3 -> 0.303, 0 (alive)") &&
                 Catch::Contains("Training at d_k=1024, runs reaching 90% held-out accuracy (mean final accuracy): "
                                 "`dot` 0 of 2 (0.219); `scaled_dot` 2 of 2 (1); `mup_dot` 2 of 2 (0.998)."));
  outcomes[0].reached_90 = 1;  // one seed of two is not "trains"
  CHECK_THAT(scale_alternatives_verdict(outcomes), Catch::Contains("**Verdict: this run supports it.**"));
  outcomes[2].reached_90 = 1;
  CHECK_THAT(scale_alternatives_verdict(outcomes),
             Catch::Contains("cannot tell (a choice that keeps the gradient alive trained in some seeds only)"));
  outcomes[2].reached_90 = 2;
  outcomes[0].reached_90 = 2;
  CHECK_THAT(scale_alternatives_verdict(outcomes), Catch::Contains("**Verdict: this run contradicts it.**"));
  outcomes[0].reached_90 = 0;
  outcomes[2].reached_90 = 0;  // alive, yet no run learns
  CHECK_THAT(scale_alternatives_verdict(outcomes), Catch::Contains("**Verdict: this run contradicts it.**"));
  outcomes[1].reached_90 = 1;  // scaled_dot itself fails: the budget cannot judge the others
  CHECK_THAT(scale_alternatives_verdict(outcomes), Catch::Contains("cannot tell (scaled_dot did not train"));
  CHECK_THAT(scale_alternatives_verdict({outcome("scaled_dot", 0.303, 0, 2, 1), outcome("qk_norm", 0.3, 0, 2, 1)}),
             Catch::Contains("cannot tell (no choice to contrast"));
  std::vector<ScaleAlternativeOutcome> untrained{outcome("scaled_dot", 0.303, 0, 0, 0)};
  untrained[0].runs = 0;
  CHECK_THAT(scale_alternatives_verdict(untrained),
             Catch::Contains("cannot tell") && Catch::EndsWith("Nothing was trained."));
}

TEST_CASE("scale_alternatives config: shipped config loads, errors name path and suggestion", "[experiments]") {
  const auto o = load_scale_alternatives_options(std::string(QKV_SOURCE_DIR) + "/configs/scale_alternatives.json");
  CHECK(o.probe.scorers.size() == 6);
  CHECK(o.training_d_ks == std::vector<int64_t>{4, 16, 64, 256, 1024});
  const fs::path dir = fs::path(QKV_BINARY_DIR) / "test-scratch" / "scale_alternatives_config";
  fs::create_directories(dir);
  auto message = [&](const std::string& text) {
    std::ofstream(dir / "bad.json") << text;
    try {
      load_scale_alternatives_options((dir / "bad.json").string());
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message(R"({"scorers": ["qknorm"]})"), Catch::Contains("scorers") && Catch::Contains("qknorm"));
  CHECK_THAT(message(R"({"training": {"seedz": 2}})"),
             Catch::Contains("training.seedz: unknown key") && Catch::Contains("did you mean \"seeds\""));
  CHECK_THAT(message(R"({"training": {"d_k": [0]}})"), Catch::Contains("training.d_k"));
}
