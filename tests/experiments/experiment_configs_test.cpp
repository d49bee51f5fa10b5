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
  CHECK(o.base.task == d.base.task);
  CHECK(o.base.task_options == d.base.task_options);
  CHECK(o.base.steps == d.base.steps);
  CHECK(o.base.model.d_model == d.base.model.d_model);
  CHECK(o.variants == d.variants);
  CHECK(o.seeds == d.seeds);
}

TEST_CASE("position config: unknown key with a suggestion, wrong type, bad task option") {
  auto load = [](const std::string& p) { load_position_options(p); };
  const std::string unknown = problems("p1.json", R"({"training": {"stpes": 10}})", load);
  CHECK_THAT(unknown, Catch::Contains("p1.json: training.stpes: unknown key (did you mean \"steps\"?)"));
  const std::string type = problems("p2.json", R"({"model": {"d_model": "big"}})", load);
  CHECK_THAT(type, Catch::Contains("p2.json: model.d_model: expected an integer") && Catch::Contains("found string \"big\""));
  const std::string variant = problems("p3.json", R"({"variants": ["none", "rotary"]})", load);
  CHECK_THAT(variant, Catch::Contains("p3.json: variants: expected") && Catch::Contains("\"rotary\""));
  const std::string task = problems("p4.json", R"({"task": "recall"})", load);
  CHECK_THAT(task, Catch::Contains("p4.json: task: expected one of \"copy\", \"reverse\", \"sort\", \"shift\""));
  const std::string option = problems("p5.json", R"({"task_options": {"seq_len": 16, "vocab": 16, "shift": 30}})", load);
  CHECK_THAT(option, Catch::Contains("p5.json: task_options.shift: expected"));
}

TEST_CASE("scorers config: the shipped config loads and matches the defaults") {
  const ScorerComparisonOptions o = load_scorer_comparison_options(std::string(QKV_SOURCE_DIR) + "/configs/scorers.json");
  const ScorerComparisonOptions d = default_scorer_comparison_options();
  REQUIRE(o.tasks.size() == d.tasks.size());
  for (size_t i = 0; i < o.tasks.size(); ++i) {
    CHECK(o.tasks[i].task == d.tasks[i].task);
    CHECK(o.tasks[i].task_options == d.tasks[i].task_options);
    CHECK(o.tasks[i].steps == d.tasks[i].steps);
    CHECK(o.tasks[i].causal == d.tasks[i].causal);
  }
  CHECK(o.scorers == d.scorers);
  CHECK(o.seeds == d.seeds);
  CHECK(o.base.steps == d.base.steps);
  CHECK(o.base.eval_interval == d.base.eval_interval);
}

TEST_CASE("scorers config: unknown key with a suggestion, wrong type, problems inside tasks[i]") {
  auto load = [](const std::string& p) { load_scorer_comparison_options(p); };
  const std::string unknown = problems("s1.json", R"({"scorer": ["dot"]})", load);
  CHECK_THAT(unknown, Catch::Contains("s1.json: scorer: unknown key (did you mean \"scorers\"?)"));
  const std::string type = problems("s2.json", R"({"training": {"lr": "fast"}})", load);
  CHECK_THAT(type, Catch::Contains("s2.json: training.lr: expected a number") && Catch::Contains("found string \"fast\""));
  const std::string in_task = problems(
      "s3.json", R"({"tasks": [{"task": "recall"}, {"task": "sort", "stpes": 5, "steps": "many"}]})", load);
  CHECK_THAT(in_task, Catch::Contains("s3.json: tasks[1].stpes: unknown key (did you mean \"steps\"?)"));
  CHECK_THAT(in_task, Catch::Contains("s3.json: tasks[1].steps: expected an integer"));
  const std::string missing = problems("s4.json", R"({"tasks": [{"task_options": {}}]})", load);
  CHECK_THAT(missing, Catch::Contains("s4.json: tasks[0].task: expected a task name"));
  const std::string option = problems("s5.json", R"({"tasks": [{"task": "recall", "task_options": {"pairs": 0}}]})", load);
  CHECK_THAT(option, Catch::Contains("s5.json: tasks[0].task_options.pairs: expected"));
  const std::string scorer = problems("s6.json", R"({"scorers": ["cosine"]})", load);
  CHECK_THAT(scorer, Catch::Contains("s6.json: scorers: expected") && Catch::Contains("\"cosine\""));
}
