#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <sstream>

#include "../io/test_files.h"
#include "experiments/position.h"
#include "experiments/table.h"
#include "qkv.h"

using namespace qkv;

namespace {
PositionOptions tiny_position(const std::string& out) {
  PositionOptions o;
  o.variants = {"none", "sinusoidal"};
  o.seeds = 1;
  o.run = {{"model", {{"d_model", 16}, {"heads", 2}, {"layers", 1}, {"d_ff", 32}}},
           {"task", {{"name", "shift"}, {"seq_len", 8}, {"vocab", 6}, {"shift", 2}, {"eval_batches", 1}}},
           {"train", {{"steps", 30}, {"batch_size", 16}, {"eval_interval", 15}}}};
  o.ceiling_samples = 2000;
  o.out_dir = out;
  o.config_source = "test";
  return o;
}
}  // namespace

TEST_CASE("position: trained model without positions is permutation-equivariant, sinusoidal is not") {
  const auto dir = qkv_test::scratch_dir("position_equivariance");
  std::ostringstream log;
  const PositionResult r = run_position_experiment(tiny_position(dir.string()), log);
  REQUIRE(r.rows.size() == 2);
  CHECK(r.rows[0].variant == "none");
  CHECK(r.rows[0].equivariance_error < 1e-4);
  CHECK(r.rows[1].variant == "sinusoidal");
  CHECK(r.rows[1].equivariance_error > 1e-3);
  CHECK(std::filesystem::exists(dir / "position.csv"));
  CHECK(std::filesystem::exists(dir / "report.md"));
  // The table carries the measured numbers, not placeholders.
  CHECK(qkv_test::slurp(dir / "report.md").find("equivariance_error") != std::string::npos);
  // Every run is an ordinary run folder: its config, metrics, probes and checkpoint.
  for (const char* file : {"config.json", "metrics.jsonl", "probes.jsonl", "checkpoint.safetensors"})
    CHECK(std::filesystem::exists(dir / "runs" / "none_seed0" / file));
  CHECK(r.rows[1].result.config.model.positional == PositionKind::sinusoidal);
  // The report opens with the verdict computed from these runs, each variant's numbers in it.
  REQUIRE(r.outcomes.size() == 2);
  CHECK(r.outcomes[0].mean_accuracy == r.rows[0].result.curve.back().eval_accuracy);
  CHECK(r.outcomes[1].max_equivariance_error == r.rows[1].equivariance_error);
  const std::string report = qkv_test::slurp(dir / "report.md");
  CHECK(report.rfind("# Position information\n\n" + r.verdict + "\n\n", 0) == 0);
  CHECK_THAT(r.verdict, Catch::Contains("**Verdict: this run ") && Catch::Contains("`none` ") &&
                            Catch::Contains("`sinusoidal` ") && Catch::Contains(report_number(r.ceiling.accuracy)));
}

TEST_CASE("position's verdict follows the numbers: supported, contradicted, or cannot tell", "[experiments]") {
  const OrderBlindCeiling ceiling{.accuracy = 0.1958, .standard_error = 0.0004, .method = "by hand"};
  std::vector<PositionVariantOutcome> outcomes{
      {.variant = "none", .runs = 3, .above_ceiling = 0, .reached_90 = 0, .mean_accuracy = 0.195, .max_equivariance_error = 0.0001},
      {.variant = "rope", .runs = 3, .above_ceiling = 3, .reached_90 = 3, .mean_accuracy = 1, .max_equivariance_error = 23},
      {.variant = "alibi", .runs = 3, .above_ceiling = 0, .reached_90 = 0, .mean_accuracy = 0.1943, .max_equivariance_error = 4.145}};
  const std::string supported = position_verdict(outcomes, ceiling);
  CHECK_THAT(supported, Catch::Contains("**Verdict: this run supports it.**") &&
                            Catch::Contains("Order-blind ceiling 0.196 (standard error 0.0004).") &&
                            Catch::Contains("`none` 0.195, 0 of 3, 0 of 3, 0.0001; `rope` 1, 3 of 3, 3 of 3, 23; "
                                            "`alibi` 0.194, 0 of 3, 0 of 3, 4.14."));
  // A position variant that beats the ceiling in only some seeds does not show that it can learn.
  outcomes[1].above_ceiling = 2;
  CHECK_THAT(position_verdict(outcomes, ceiling),
             Catch::Contains("cannot tell (no variant with positions beat the ceiling in every run)"));
  // An equivariant model above the ceiling is impossible: it contradicts the claim.
  outcomes[0].above_ceiling = 1;
  CHECK_THAT(position_verdict(outcomes, ceiling), Catch::Contains("**Verdict: this run contradicts it.**"));
  CHECK_THAT(position_verdict({outcomes[1]}, ceiling), Catch::Contains("cannot tell (no variant without positions ran)"));
}

TEST_CASE("position: the relative-bias variant has no absolute encoding and a clipped bias") {
  const nlohmann::json relative = position_variant_model("relative", "scaled_dot", 5);
  CHECK(relative == nlohmann::json{{"positional", "none"}, {"scorer", "scaled_dot"}, {"relative_bias", "clipped"},
                                   {"relative_window", 5}});
  CHECK(position_variant_model("learned", "scaled_dot", 5) ==
        nlohmann::json{{"positional", "learned"}, {"scorer", "scaled_dot"}});
  // RoPE and ALiBi go into every layer's scorer through the run config's model.positional.
  for (const char* in_scorer : {"rope", "alibi"})
    CHECK(position_variant_model(in_scorer, "dot", 5) == nlohmann::json{{"positional", in_scorer}, {"scorer", "dot"}});
  CHECK_THROWS_WITH(position_variant_model("rotary", "scaled_dot", 5), Catch::Contains("rotary"));
}

TEST_CASE("position: order-blind ceiling of reverse is E[max multiplicity] / L, by hand") {
  // L = 2 source symbols over S = 4: both equal with probability 1/4, so E[max] = 1.25.
  const auto two = make_task("reverse", {{"seq_len", 5}, {"vocab", 6}});
  const OrderBlindCeiling c2 = order_blind_ceiling(*two, 10, 0);
  CHECK(c2.accuracy == Approx(1.25 / 2));
  CHECK(c2.standard_error == 0);
  // L = 3 over S = 2: all three equal with probability 2/8 (max 3), otherwise max 2.
  const auto three = make_task("sort", {{"seq_len", 7}, {"vocab", 4}});
  CHECK(order_blind_ceiling(*three, 10, 0).accuracy == Approx((0.25 * 3 + 0.75 * 2) / 3));
}

TEST_CASE("position: order-blind ceiling of shift matches a brute-force Bayes predictor") {
  // Every input of length 4 over symbols {1, 2}, shift 1: group positions by (multiset,
  // own token), answer each group with its most frequent target.
  const int64_t n = 4, k = 1;
  std::map<std::pair<std::vector<int64_t>, int64_t>, std::map<int64_t, double>> groups;
  for (int code = 0; code < 16; ++code) {
    std::vector<int64_t> x(n);
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = 1 + ((code >> i) & 1);
    std::vector<int64_t> multiset = x;
    std::sort(multiset.begin(), multiset.end());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t target = i < k ? ShiftTask::kFiller : x[static_cast<size_t>(i - k)];
      groups[{multiset, x[static_cast<size_t>(i)]}][target] += 1;
    }
  }
  double right = 0;
  for (const auto& [key, targets] : groups) {
    double best = 0;
    for (const auto& [target, count] : targets) best = std::max(best, count);
    right += best;
  }
  const double exact = right / (16.0 * n);
  const auto task = make_task("shift", {{"seq_len", n}, {"vocab", 3}, {"shift", k}});
  const OrderBlindCeiling c = order_blind_ceiling(*task, 40000, 3);
  INFO("exact " << exact << ", estimate " << c.accuracy << " +- " << c.standard_error);
  CHECK(c.standard_error > 0);
  CHECK(std::abs(c.accuracy - exact) < 4 * c.standard_error + 1e-9);
}

TEST_CASE("position: equivariance error is float rounding for an untrained model without positions") {
  const auto task = make_task("shift", {{"seq_len", 10}, {"vocab", 8}, {"shift", 1}});
  Generator gen(5);
  SequenceModel none({.vocab_size = 8, .num_classes = 8, .max_len = 10, .d_model = 16, .heads = 2, .layers = 2,
                      .d_ff = 32, .positional = PositionKind::none},
                     gen);
  CHECK(permutation_equivariance_error(none, *task, 2, 8, 1) < 1e-4);
  SequenceModel learned({.vocab_size = 8, .num_classes = 8, .max_len = 10, .d_model = 16, .heads = 2, .layers = 2,
                         .d_ff = 32, .positional = PositionKind::learned},
                        gen);
  CHECK(permutation_equivariance_error(learned, *task, 2, 8, 1) > 1e-4);
}
