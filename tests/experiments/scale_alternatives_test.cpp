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
