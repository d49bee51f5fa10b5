#include <catch2/catch.hpp>

#include "../io/test_files.h"
#include "experiments/position.h"
#include "experiments/scorer_comparison.h"
#include "qkv.h"

using namespace qkv;

namespace {
// Every problem a loader reports for a config file, joined, or a failure if it loads.
template <class Load>
std::string problems(const std::string& name, const std::string& text, Load load) {
  const auto path = qkv_test::scratch_dir("experiment_configs") / name;
  qkv_test::spit(path, text);
  try {
    load(path.string());
  } catch (const ConfigError& e) {
    std::string all;
    for (const auto& p : e.problems()) all += p + "\n";
    return all;
  }
  FAIL("the config was accepted: " << text);
  return "";
}
}  // namespace

TEST_CASE("position config: the shipped config loads and matches the defaults") {
  const PositionOptions o = load_position_options(std::string(QKV_SOURCE_DIR) + "/configs/position.json");
  const PositionOptions d = default_position_options();
  CHECK(o.run == d.run);
  CHECK(o.scorer == d.scorer);
  CHECK(o.variants == d.variants);
  CHECK(o.seeds == d.seeds);
}

TEST_CASE("position config: unknown key with a suggestion, wrong type, bad task option") {
  auto load = [](const std::string& p) { load_position_options(p); };
  const std::string unknown = problems("p1.json", R"({"seds": 2})", load);
  CHECK_THAT(unknown, Catch::Contains("p1.json: seds: unknown key (did you mean \"seeds\"?)"));
  // The runs are run configs: their problems are the run config's, naming the experiment's file.
  const std::string type = problems("p2.json", R"({"run": {"model": {"d_model": "big"}}})", load);
  CHECK_THAT(type, Catch::Contains("p2.json") && Catch::Contains("model.d_model") && Catch::Contains("\"big\""));
  const std::string run_key = problems("p2b.json", R"({"run": {"train": {"stpes": 10}}})", load);
  CHECK_THAT(run_key, Catch::Contains("p2b.json") && Catch::Contains("train.stpes") && Catch::Contains("steps"));
  const std::string variant = problems("p3.json", R"({"variants": ["none", "rotary"]})", load);
  CHECK_THAT(variant, Catch::Contains("p3.json: variants: expected") && Catch::Contains("\"rotary\""));
  const std::string task = problems("p4.json", R"({"run": {"task": {"name": "recall", "seq_len": null, "vocab": null, "shift": null}}})", load);
  CHECK_THAT(task, Catch::Contains("p4.json: run.task.name: expected an order-dependent task: copy, reverse, sort or shift"));
  const std::string option = problems("p5.json", R"({"run": {"task": {"shift": 30}}})", load);
  CHECK_THAT(option, Catch::Contains("p5.json") && Catch::Contains("task.shift"));
  const std::string scorer = problems("p6.json", R"({"scorer": "cosine"})", load);
  CHECK_THAT(scorer, Catch::Contains("p6.json: scorer: expected") && Catch::Contains("\"cosine\""));
}

TEST_CASE("scorers config: the shipped config loads and matches the defaults") {
  const ScorerComparisonOptions o = load_scorer_comparison_options(std::string(QKV_SOURCE_DIR) + "/configs/scorers.json");
  const ScorerComparisonOptions d = default_scorer_comparison_options();
  REQUIRE(o.tasks.size() == d.tasks.size());
  for (size_t i = 0; i < o.tasks.size(); ++i) {
    CHECK(o.tasks[i].name == d.tasks[i].name);
    CHECK(o.tasks[i].changes == d.tasks[i].changes);
  }
  CHECK(o.scorers == d.scorers);
  CHECK(o.seeds == d.seeds);
  CHECK(o.run == d.run);
}

TEST_CASE("scorers config: unknown key with a suggestion, wrong type, problems inside tasks[i]") {
  auto load = [](const std::string& p) { load_scorer_comparison_options(p); };
  const std::string unknown = problems("s1.json", R"({"scorer": ["dot"]})", load);
  CHECK_THAT(unknown, Catch::Contains("s1.json: scorer: unknown key (did you mean \"scorers\"?)"));
  const std::string type = problems("s2.json", R"({"run": {"optimizer": {"lr": "fast"}}})", load);
  CHECK_THAT(type, Catch::Contains("s2.json") && Catch::Contains("optimizer.lr") && Catch::Contains("\"fast\""));
  const std::string in_task = problems(
      "s3.json", R"({"tasks": [{"task": {"name": "recall"}}, {"task": {"name": "sort"}, "train": {"stpes": 5}}]})", load);
  CHECK_THAT(in_task, Catch::Contains("s3.json run with tasks[1]") && Catch::Contains("train.stpes"));
  const std::string missing = problems("s4.json", R"({"tasks": [{"task": {"pairs": 3}}]})", load);
  CHECK_THAT(missing, Catch::Contains("s4.json: tasks[0].task.name: expected the task's name"));
  const std::string option = problems("s5.json", R"({"tasks": [{"task": {"name": "recall", "pairs": 0}}]})", load);
  CHECK_THAT(option, Catch::Contains("s5.json run with tasks[0]") && Catch::Contains("task.pairs"));
  const std::string twice = problems("s7.json", R"({"tasks": [{"task": {"name": "sort"}}, {"task": {"name": "sort"}}]})", load);
  CHECK_THAT(twice, Catch::Contains("s7.json: tasks[1].task.name: expected a task not listed before"));
  const std::string scorer = problems("s6.json", R"({"scorers": ["cosine"]})", load);
  CHECK_THAT(scorer, Catch::Contains("s6.json: scorers: expected") && Catch::Contains("\"cosine\""));
}
