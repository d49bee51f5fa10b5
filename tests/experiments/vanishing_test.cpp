#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "experiments/init_probe.h"
#include "train/softmax_stats.h"
#include "experiments/vanishing.h"
#include "train/trainer.h"
#include "qkv.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path scratch(const std::string& name) {
  fs::path p = fs::path(QKV_BINARY_DIR) / "test-scratch" / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

const InitProbeRow& row_of(const std::vector<InitProbeRow>& rows, const std::string& scorer, int64_t d_k) {
  for (const auto& r : rows)
    if (r.scorer == scorer && r.d_k == d_k) return r;
  throw std::logic_error("no row");
}
}  // namespace

TEST_CASE("softmax statistics by hand", "[experiments]") {
  // Uniform row over 4: entropy ln 4, max 1/4, Jacobian norm^2 = 4/16 - 2*4/64 + (4/16)^2 = 0.1875.
  Tensor uniform = Tensor::full({1, 4}, 0.25f);
  SoftmaxStats s = softmax_stats(uniform);
  CHECK(s.mean_entropy == Approx(std::log(4.0)));
  CHECK(s.mean_max_weight == Approx(0.25));
  CHECK(s.mean_jacobian_norm == Approx(std::sqrt(0.1875)));
  CHECK(s.dead_fraction == 0);
  // The closed form agrees with the explicit Frobenius norm of diag(w) - w w^T.
  const std::vector<Scalar> w{0.7f, 0.2f, 0.1f};
  double explicit_sq = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const double jij = (i == j ? w[i] : 0) - static_cast<double>(w[i]) * w[j];
      explicit_sq += jij * jij;
    }
  CHECK(softmax_jacobian_norm(w.data(), 3) == Approx(std::sqrt(explicit_sq)));
  // A one-hot row is saturated and dead.
  SoftmaxStats hot = softmax_stats(Tensor::from({1, 0, 0}, {1, 3}));
  CHECK(hot.saturated_fraction == 1);
  CHECK(hot.dead_fraction == 1);
}

TEST_CASE("small sweep: unscaled scores spread like sqrt(d_k) and the softmax saturates, scaled stays put",
          "[experiments]") {
  InitProbeOptions o;
  o.d_ks = {4, 64, 1024};
  o.scorers = {"scaled_dot", "dot"};
  o.seeds = 8;
  const auto rows = run_init_probe(o);
  for (int64_t d_k : o.d_ks) {
    const auto& dot = row_of(rows, "dot", d_k);
    INFO("d_k " << d_k);
    CHECK(dot.score_std == Approx(std::sqrt(static_cast<double>(d_k))).epsilon(0.15));
    CHECK(row_of(rows, "scaled_dot", d_k).score_std == Approx(1).epsilon(0.15));
  }
  for (size_t i = 1; i < o.d_ks.size(); ++i) {
    const auto& lo = row_of(rows, "dot", o.d_ks[i - 1]);
    const auto& hi = row_of(rows, "dot", o.d_ks[i]);
    CHECK(hi.mean_entropy < lo.mean_entropy);
    CHECK(hi.mean_jacobian_norm < lo.mean_jacobian_norm);
    CHECK(hi.dead_fraction >= lo.dead_fraction);
  }
  CHECK(row_of(rows, "dot", 1024).dead_fraction > 0.3);
  double lo_j = 1e9, hi_j = 0, lo_e = 1e9, hi_e = 0;
  for (int64_t d_k : o.d_ks) {
    const auto& s = row_of(rows, "scaled_dot", d_k);
    lo_j = std::min(lo_j, s.mean_jacobian_norm);
    hi_j = std::max(hi_j, s.mean_jacobian_norm);
    lo_e = std::min(lo_e, s.mean_entropy);
    hi_e = std::max(hi_e, s.mean_entropy);
    CHECK(s.dead_fraction == 0);
  }
  CHECK(hi_j / lo_j < 1.15);
  CHECK(hi_e / lo_e < 1.1);
}

TEST_CASE("two runs of a small vanishing experiment give identical CSVs", "[experiments]") {
  VanishingOptions o = default_vanishing_options();
  o.probe.d_ks = {4, 64};
  o.probe.scorers = {"scaled_dot", "dot", "general", "additive"};
  o.probe.seeds = 3;
  o.training.d_ks = {8};
  o.training.seeds = 1;
  o.training.unscaled_lrs.clear();
  o.training.unscaled_lrs_over_sqrt_dk.clear();
  o.training.run.merge_patch({{"task", {{"eval_batches", 1}}},
                              {"train", {{"steps", 6}, {"batch_size", 4}, {"eval_interval", 3}}}});
  std::ostringstream log;
  for (const char* name : {"a", "b"}) {
    o.out_dir = scratch(std::string("vanishing_") + name).string();
    run_vanishing_experiment(o, log);
  }
  const fs::path a = scratch("unused").parent_path() / "vanishing_a";
  const fs::path b = a.parent_path() / "vanishing_b";
  for (const char* file : {"probe.csv", "training.csv", "curve_dk8_scaled_seed0.csv", "curve_dk8_unscaled_seed0.csv"}) {
    INFO(file);
    const std::string first = slurp(a / file);
    CHECK_FALSE(first.empty());
    CHECK(first == slurp(b / file));
  }
  CHECK(fs::exists(a / "report.md"));
  CHECK(fs::exists(a / "jacobian_norm.gp"));
  CHECK_THAT(slurp(a / "report.md"), Catch::Contains("What vanishes and what does not"));
}

TEST_CASE("a bad vanishing config names the file, the path, what was expected and found", "[experiments]") {
  const fs::path dir = scratch("vanishing_config");
  auto write = [&](const std::string& text) {
    std::ofstream(dir / "bad.json") << text;
    return (dir / "bad.json").string();
  };
  auto message = [&](const std::string& text) {
    try {
      load_vanishing_options(write(text));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message(R"({"probe": {"seedz": 3}})"),
             Catch::Contains("bad.json") && Catch::Contains("probe.seedz: unknown key") &&
                 Catch::Contains("did you mean \"seeds\""));
  CHECK_THAT(message(R"({"probe": {"d_k": [4, "x"]}})"),
             Catch::Contains("probe.d_k: expected a non-empty array of integers") && Catch::Contains("string \"x\""));
  CHECK_THAT(message(R"({"probe": {"scorers": ["dott"]}})"), Catch::Contains("probe.scorers: expected"));
  CHECK_THAT(message(R"({"training": {"lr": -1}})"), Catch::Contains("training.lr: unknown key"));
  CHECK_THAT(message(R"({"training": {"run": {"optimizer": {"lr": -1}}}})"),
             Catch::Contains("bad.json training.run") && Catch::Contains("optimizer.lr"));
  CHECK_THAT(message(R"({"training": {"run": {"task": {"seq_len": 1}}}})"),
             Catch::Contains("bad.json training.run") && Catch::Contains("task.seq_len"));
  CHECK_THAT(message(R"({"training": {"run": 3}})"), Catch::Contains("training.run: expected a run config"));
  CHECK_THAT(message("{\n  \"probe\": [1,\n}"), Catch::Contains("bad.json:3:"));
  CHECK(load_vanishing_options(QKV_SOURCE_DIR "/configs/vanishing.json").probe.d_ks.size() == 5);
  CHECK(load_vanishing_options(QKV_SOURCE_DIR "/configs/vanishing_full.json").training.seeds == 16);
}

TEST_CASE("a sweep point is an ordinary run folder: evaluated and resumed by the trainer", "[experiments]") {
  VanishingOptions o = default_vanishing_options();
  o.probe.d_ks = {4};
  o.probe.seeds = 1;
  o.training.d_ks = {8};
  o.training.seeds = 1;
  o.training.unscaled_lrs.clear();
  o.training.unscaled_lrs_over_sqrt_dk.clear();
  o.training.run.merge_patch({{"task", {{"eval_batches", 1}}},
                              {"train", {{"steps", 4}, {"batch_size", 4}, {"eval_interval", 2}}}});
  o.out_dir = scratch("vanishing_run_folder").string();
  std::ostringstream log;
  const VanishingResult result = run_vanishing_experiment(o, log);
  REQUIRE(result.training.size() == 2);
  const TrainedRun& run = result.training[1].result;  // unscaled
  CHECK(run.run_dir == o.out_dir + "/runs/dk8_unscaled_seed0");
  CHECK(run.config.model.scale == 1);
  CHECK(run.config.model.d_head == 8);
  // The curve is the run's own evaluation: the model read back from its checkpoint gives
  // the last evaluated loss and accuracy again.
  const RunConfig config = load_run_config(run.run_dir, {}, "test");
  const EvalResult again = evaluate_model(*run.model, held_out_batches(*run.task, config.task.eval_batches,
                                                                        config.train.batch_size, config.task.eval_seed));
  CHECK(again.accuracy == run.curve.back().eval_accuracy);
  CHECK(again.loss == Approx(run.curve.back().eval_loss).epsilon(1e-6));
  // --resume with more steps continues the same folder.
  Trainer resumed(load_run_config(run.run_dir, {"train.steps=6"}), TrainerOptions{.resume = true, .log = &log,
                                                                                  .progress_bar = false});
  CHECK(resumed.step() == 4);
  CHECK(resumed.run().steps == 6);
  CHECK(read_trained_run(run.run_dir).curve.back().step == 6);
}

TEST_CASE("vanishing: per-cell intervals and the unscaled learning-rate sweep", "[experiments]") {
  VanishingOptions o = default_vanishing_options();
  o.probe.d_ks = {4};
  o.probe.seeds = 1;
  o.training.d_ks = {4, 16};
  o.training.seeds = 2;
  o.training.unscaled_lrs = {3e-3};
  o.training.unscaled_lrs_over_sqrt_dk = {4e-3};
  o.training.run.merge_patch({{"model", {{"d_model", 16}, {"d_ff", 16}}},
                              {"task", {{"eval_batches", 1}}},
                              {"train", {{"steps", 4}, {"batch_size", 4}, {"eval_interval", 2}}}});
  o.out_dir = scratch("vanishing_lr_sweep").string();
  std::ostringstream log;
  const VanishingResult r = run_vanishing_experiment(o, log);
  REQUIRE(r.lr_sweep.size() == 2 * 2 * 2);  // d_k x rates x seeds
  // 4e-3 / sqrt(16) = 1e-3: the rate that follows d_k reaches the run config.
  for (const VanishingLrRow& row : r.lr_sweep) {
    INFO(row.d_k << " " << row.lr);
    const double expected = row.lr == "0.003" ? 3e-3 : 4e-3 / std::sqrt(static_cast<double>(row.d_k));
    CHECK(row.result.config.optimizer.lr == Approx(expected));
    CHECK(row.result.config.model.scale == 1);
  }
  CHECK(fs::exists(fs::path(o.out_dir) / "runs" / "dk16_unscaled_lr0.004_over_sqrt_dk_seed1" / "checkpoint.safetensors"));
  // One row per (d_k, variant): scaled, unscaled, and each rate.
  const std::string cells = slurp(fs::path(o.out_dir) / "training_cells.csv");
  CHECK_THAT(cells, Catch::Contains("\n16,unscaled lr=0.004/sqrt(d_k),2,"));
  CHECK(std::count(cells.begin(), cells.end(), '\n') == 1 + 2 * 4);
  CHECK(slurp(fs::path(o.out_dir) / "lr_sweep.csv").find("4,0.003,1,") != std::string::npos);
  const std::string report = slurp(fs::path(o.out_dir) / "report.md");
  CHECK_THAT(report, Catch::Contains("Does another learning rate rescue unscaled attention?") &&
                         Catch::Contains("- d_k=16: scaled reached 90% in "));
}

TEST_CASE("vanishing's verdict follows the numbers: supported, contradicted, or cannot tell", "[experiments]") {
  // Wilson 95% for 0 of 8 is [0, 0.324] and for 8 of 8 [0.676, 1] (statistics_test checks the arithmetic).
  const VanishingDkOutcome small{.d_k = 4, .runs = 8, .scaled_reached = 8, .unscaled_reached = 8};
  std::vector<VanishingDkOutcome> outcomes{small, {.d_k = 256, .runs = 8, .scaled_reached = 8, .unscaled_reached = 0,
                                                   .best_lr = "0.0003", .best_lr_runs = 8, .best_lr_reached = 1}};
  const std::string supported = vanishing_verdict(outcomes);
  CHECK_THAT(supported, Catch::Contains("**Verdict: this run supports it.**") &&
                            Catch::Contains("d_k=256 8 of 8 [95% 0.676, 1] / 0 of 8 [95% 0, 0.324]") &&
                            Catch::Contains("(0.0003) reached 90% in 1 of 8") &&
                            Catch::Contains("Of the 1 d_k where unscaled attention fails at the scaled runs' learning "
                                            "rate, another rate rescues it (the rule of section 2) at 0."));
  outcomes.back().best_lr_reached = 8;  // d_k = 4 never failed, so it is not counted as rescued
  CHECK_THAT(vanishing_verdict(outcomes), Catch::Contains("supports it") && Catch::Contains("Of the 1 d_k") &&
                                              Catch::Contains("rescues it (the rule of section 2) at 1."));
  outcomes.back().unscaled_reached = 8;
  const std::string contradicted = vanishing_verdict(outcomes);
  CHECK_THAT(contradicted, Catch::Contains("**Verdict: this run contradicts it.**") && Catch::Contains("Of the 0 d_k"));
  outcomes.back().unscaled_reached = 4;
  CHECK_THAT(vanishing_verdict(outcomes), Catch::Contains("cannot tell"));
  CHECK_THAT(vanishing_verdict({}), Catch::Contains("cannot tell"));
}
