// The stability experiment: a tiny sweep writes its tables and a report whose verdicts
// follow from the numbers, a diverging run is recorded rather than thrown, the verdicts
// read from hand-made runs, and the config is checked.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "../io/test_files.h"
#include "experiments/stability.h"
#include "qkv.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
StabilityOptions tiny_options(const std::string& dir) {
  StabilityOptions o = default_stability_options();
  o.out_dir = dir;
  const nlohmann::json small = {{"model", {{"d_model", 16}, {"heads", 2}, {"d_ff", 16}}},
                                {"task", {{"seq_len", 6}, {"eval_batches", 1}}},
                                {"train", {{"steps", 6}, {"eval_interval", 3}}}};
  o.logit_growth.run.merge_patch(small);
  // Plain SGD at 1e6 diverges at once (Adam's bounded steps would not).
  o.logit_growth.run.merge_patch({{"optimizer", {{"name", "sgd"}}}});
  o.logit_growth.lrs = {1e-3, 1e6};
  o.logit_growth.seeds = 1;
  o.entropy_collapse.run.merge_patch(small);
  o.entropy_collapse.seeds = 1;
  return o;
}

StabilityRun made_run(const std::string& variant, double lr, double loss, double accuracy, double peak_logit,
                      double min_entropy, int64_t diverged = -1) {
  return StabilityRun{.variant = variant, .lr = lr, .final_eval_loss = loss, .final_accuracy = accuracy,
                      .diverged_step = diverged, .peak_max_logit = peak_logit, .final_min_entropy = min_entropy};
}
}  // namespace

TEST_CASE("stability: a tiny sweep writes its tables, records divergence, and its report opens with the verdicts",
          "[experiments]") {
  const fs::path dir = fs::path(QKV_BINARY_DIR) / "test-scratch" / "stability";
  fs::remove_all(dir);
  std::ostringstream log;
  const StabilityResult r = run_stability_experiment(tiny_options(dir.string()), log);

  REQUIRE(r.logit_growth.size() == 4);  // 2 scorers x 2 rates x 1 seed
  REQUIRE(r.entropy_collapse.size() == 2);
  for (const StabilityRun& run : r.logit_growth) {
    INFO(run.variant << " lr " << run.lr);
    if (run.lr == 1e6 && run.variant == "scaled_dot") CHECK(run.diverged_step >= 0);
    if (run.lr == 1e-3) {
      CHECK(run.diverged_step == -1);
      // Probed at steps 0, 3 (eval_interval) and 5 (the last): a finite max logit each time.
      CHECK(run.steps.size() >= 2);
      CHECK(std::isfinite(run.peak_max_logit));
      CHECK(run.peak_max_logit >= run.initial_max_logit);
    }
  }
  for (const StabilityRun& run : r.entropy_collapse) {
    REQUIRE(run.head_entropy.size() == run.steps.size());
    CHECK(run.head_entropy.back().size() == 4);  // 2 layers x 2 heads
    CHECK(run.final_min_entropy <= run.final_mean_entropy);
    CHECK(run.final_mean_entropy <= std::log(6.0) + 1e-6);
  }
  for (const char* file : {"logit_growth.csv", "lr_sweep.csv", "entropy_collapse.csv", "report.md",
                           "curve_plain_lr0.03_seed0.csv", "curve_scaled_dot_lr0.001_seed0.csv"})
    CHECK(fs::exists(dir / file));

  // The report opens with the two verdicts the functions compute from these runs.
  const std::string report = qkv_test::slurp(dir / "report.md");
  const size_t title_end = report.find("\n\n") + 2;
  CHECK(report.compare(title_end, r.verdicts.logit_growth.size(), r.verdicts.logit_growth) == 0);
  CHECK_THAT(report, Catch::Contains(r.verdicts.entropy_collapse));
  CHECK_THAT(r.verdicts.logit_growth, Catch::Contains("Diverged runs: 1 without QK-norm"));
}

TEST_CASE("stability: the logit-growth verdict follows the numbers", "[experiments]") {
  const double chance = std::log(12.0);
  // Plain: logits 5 -> 50, fails at 0.1; QK-norm: logits stay ~8, solves at both rates.
  const std::vector<StabilityRun> supported{
      made_run("scaled_dot", 0.001, 0.1, 1.0, 5, 0.5), made_run("scaled_dot", 0.1, 2.4, 0.1, 50, 0.5),
      made_run("qk_norm", 0.001, 0.1, 1.0, 8, 0.5), made_run("qk_norm", 0.1, 0.2, 0.95, 8, 0.5)};
  const std::string yes = logit_growth_verdict(supported, chance);
  CHECK_THAT(yes, Catch::Contains("This run supports it.") && Catch::Contains("the logits grow") &&
                      Catch::Contains("0.001 without QK-norm, 0.001, 0.1 with it") &&
                      Catch::Contains("QK-norm widens the usable range"));
  // Learning-rate sensitivity by hand: plain losses {0.1, 2.4} -> (0 + 2.3) / 2 = 1.15;
  // QK-norm {0.1, 0.2} -> 0.05.
  CHECK_THAT(yes, Catch::Contains("sensitivity 1.15 against 0.05"));

  // Both alike: no growth, same range.
  const std::vector<StabilityRun> not_supported{
      made_run("scaled_dot", 0.001, 0.1, 1.0, 5, 0.5), made_run("scaled_dot", 0.1, 0.1, 1.0, 6, 0.5),
      made_run("qk_norm", 0.001, 0.1, 1.0, 8, 0.5), made_run("qk_norm", 0.1, 0.1, 1.0, 8, 0.5)};
  CHECK_THAT(logit_growth_verdict(not_supported, chance),
             Catch::Contains("does not support it") && Catch::Contains("no growth") &&
                 Catch::Contains("QK-norm does not widen it"));
}

TEST_CASE("stability: the entropy-collapse verdict follows the numbers", "[experiments]") {
  const double ln_n = std::log(12.0);  // collapsed below 0.248
  const std::vector<StabilityRun> supported{made_run("plain", 0.03, 2.0, 0.2, 40, 0.01),
                                            made_run("sigma_reparam", 0.03, 0.3, 0.9, 6, 1.2)};
  CHECK_THAT(entropy_collapse_verdict(supported, ln_n),
             Catch::Contains("This run supports it.") && Catch::Contains("0.01 nats without σReparam and 1.2 with it"));
  // Low entropy in a run that solved the task is said to be possibly the task's own.
  const std::vector<StabilityRun> sharp{made_run("plain", 0.03, 0.01, 1.0, 40, 0.01),
                                        made_run("sigma_reparam", 0.03, 0.01, 1.0, 6, 0.02)};
  CHECK_THAT(entropy_collapse_verdict(sharp, ln_n),
             Catch::Contains("supports it in part") && Catch::Contains("may be the sharp attention the task asks for"));
  const std::vector<StabilityRun> neither{made_run("plain", 0.03, 0.3, 0.9, 6, 1.0),
                                          made_run("sigma_reparam", 0.03, 0.3, 0.9, 6, 0.01)};
  CHECK_THAT(entropy_collapse_verdict(neither, ln_n), Catch::Contains("does not support it"));
}

TEST_CASE("stability config: the shipped config loads as the defaults, bad keys are named", "[experiments]") {
  const StabilityOptions o = load_stability_options(std::string(QKV_SOURCE_DIR) + "/configs/stability.json");
  const StabilityOptions d = default_stability_options();
  CHECK(o.logit_growth.run == d.logit_growth.run);
  CHECK(o.logit_growth.lrs == d.logit_growth.lrs);
  CHECK(o.logit_growth.seeds == d.logit_growth.seeds);
  CHECK(o.entropy_collapse.run == d.entropy_collapse.run);
  CHECK(o.entropy_collapse.lr == d.entropy_collapse.lr);
  CHECK(o.entropy_collapse.seeds == d.entropy_collapse.seeds);

  auto problems = [](const std::string& name, const std::string& text) {
    const auto path = qkv_test::scratch_dir("stability_configs") / name;
    qkv_test::spit(path, text);
    try {
      load_stability_options(path.string());
    } catch (const ConfigError& e) {
      std::string all;
      for (const auto& p : e.problems()) all += p + "\n";
      return all;
    }
    return std::string("accepted");
  };
  CHECK_THAT(problems("s1.json", R"({"logit_growth": {"lrs": [0.1]}})"),
             Catch::Contains("s1.json: logit_growth.lrs: unknown key (did you mean \"lr\"?)"));
  CHECK_THAT(problems("s2.json", R"({"logit_growth": {"lr": []}})"), Catch::Contains("s2.json: logit_growth.lr"));
  CHECK_THAT(problems("s3.json", R"({"entropy_collapse": {"lr": "high"}})"),
             Catch::Contains("s3.json: entropy_collapse.lr") && Catch::Contains("\"high\""));
  CHECK_THAT(problems("s4.json", R"({"logit_growth": {"run": {"model": {"sigma_reparam": 1}}}})"),
             Catch::Contains("s4.json") && Catch::Contains("model.sigma_reparam"));
}
