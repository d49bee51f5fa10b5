// qkv as a tool (issue 11), end to end: a registered scorer trained from a config and
// resumed, inspection of a trained run, warm start, plots and overlays, --list-keys.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "qkv.h"
#include "../train/train_test_util.h"

using namespace qkv;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
json tiny(const std::string& out_dir, int64_t d_model = 16) {
  return {{"model", {{"d_model", d_model}, {"heads", 2}, {"layers", 1}}},
          {"task", {{"name", "reverse"}, {"seq_len", 7}, {"vocab", 10}, {"eval_batches", 1}}},
          {"optimizer", {{"name", "adam"}, {"lr", 0.01}}},
          {"train", {{"steps", 6}, {"batch_size", 8}, {"eval_interval", 0}, {"out_dir", out_dir}, {"threads", 1},
                     {"plots", false}}}};
}

}  // namespace

TEST_CASE("custom_layer trains its registered scorer from a config, resumes and inspects the run",
          "[tool][program]") {
  const std::string dir = qkv_test::scratch_dir("custom_layer_run"), run = dir + "/run";
  const std::string program = QKV_CUSTOM_LAYER_BINARY, config = QKV_SOURCE_DIR "/examples/cosine.json";
  const auto first = qkv_test::run_program({program, config, "--set", "train.batch_size=8", "--set", "task.eval_batches=1",
                                            "--set", "probes.interval=3", "--set", "train.steps=4", "--set",
                                            "train.plots=false", "--out", run},
                                           dir);
  INFO(first.out + first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(json::parse(qkv_test::slurp(run + "/config.json"))["model"]["scorer"] == "cosine");
  CHECK(first.out.find("cosine scorer") != std::string::npos);

  const auto resumed =
      qkv_test::run_program({program, "--resume", run, "--set", "train.steps=7"}, dir);
  INFO(resumed.out + resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.out.find("resuming at step 4 of 7") != std::string::npos);
  CHECK(qkv_test::jsonl_rows(run + "/metrics.jsonl").size() == 7);
  CHECK(qkv_test::jsonl_rows(run + "/probes.jsonl").size() == 2);  // steps 3 and 6

  // The train program does not have the kind; its message lists the kinds it has.
  const auto plain = qkv_test::run_program({QKV_TRAIN_BINARY, "--resume", run}, dir);
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.err, Catch::Contains("model.scorer: expected one of \"additive\"") &&
                            Catch::Contains("register_scorer()") && Catch::Contains("found \"cosine\""));

  const auto inspected = qkv_test::run_program({program, "--eval", run, "--examples", "2"}, dir);
  INFO(inspected.out + inspected.err);
  REQUIRE(inspected.exit_code == 0);
  CHECK_THAT(inspected.out, Catch::Contains("held-out accuracy ") && Catch::Contains("example 1 (") &&
                                Catch::Contains("  predicted  "));
  CHECK(inspected.out.find("example 2 (") == std::string::npos);
  if (gnuplot_available()) CHECK(fs::file_size(run + "/inspect/attention_layer0.png") > 0);
}

TEST_CASE("a registered scorer kind is a valid model.scorer, an unknown one is listed with the rest", "[tool][config]") {
  register_scorer("tool_test_dot", [](const ScorerOptions&, Generator&) { return std::make_shared<DotScorer>(); });
  const RunConfig ok = resolve_config(json{{"task", {{"name", "copy"}}}, {"model", {{"scorer", "tool_test_dot"}}}},
                                      "run.json");
  CHECK(ok.resolved["model"]["scorer"] == "tool_test_dot");
  CHECK_THROWS_WITH(resolve_config(json{{"task", {{"name", "copy"}}}}, "run.json", {"model.scorer=nope"}),
                    Catch::Contains("model.scorer: expected one of") && Catch::Contains("\"tool_test_dot\""));
}

TEST_CASE("inspect_run evaluates a run folder as the run did and writes a heatmap per layer", "[tool]") {
  const std::string dir = qkv_test::scratch_dir("inspect_run");
  std::ostringstream log;
  Trainer trainer(resolve_config(tiny(dir), "tiny.json"), {.log = &log, .progress_bar = false});
  const TrainResult trained = trainer.run();
  std::ostringstream out;
  const Inspection seen = inspect_run(dir, {.examples = 1}, out);
  REQUIRE(trained.eval);
  CHECK(seen.eval.accuracy == trained.eval->accuracy);
  CHECK(seen.eval.loss == Approx(trained.eval->loss));
  CHECK(out.str().find("example 0 (") != std::string::npos);
  CHECK(seen.heatmaps.size() == (gnuplot_available() ? 1u : 0u));
  CHECK_THROWS_WITH(inspect_run(dir + "/absent", {}, out), Catch::Contains("--eval " + dir + "/absent: no such run folder"));
}

TEST_CASE("train.init_from starts from another run's weights with a new optimiser, a model of other shape is refused",
          "[tool]") {
  const std::string dir = qkv_test::scratch_dir("init_from");
  std::ostringstream log;
  Trainer(resolve_config(tiny(dir + "/a"), "a.json"), {.log = &log, .progress_bar = false}).run();
  json b = tiny(dir + "/b");
  b["optimizer"] = {{"name", "sgd"}, {"lr", 0.1}};
  b["train"]["init_from"] = dir + "/a";
  Trainer warm(resolve_config(b, "b.json"), {.log = &log, .progress_bar = false});
  CHECK(warm.step() == 0);
  Generator gen(0);
  auto a_model = load_trained_model(dir + "/a", load_run_config(dir + "/a"), warm.task());
  for (const auto& [name, p] : a_model->named_parameters())
    CHECK(p.to_vector() == warm.model().parameter(name).to_vector());

  json c = tiny(dir + "/c", 24);
  c["train"]["init_from"] = dir + "/a";
  CHECK_THROWS_WITH(Trainer(resolve_config(c, "c.json"), {.log = &log, .progress_bar = false}),
                    Catch::StartsWith("train.init_from " + dir + "/a: "));
}

TEST_CASE("plot_runs overlays several run folders, train --list-keys prints every key", "[tool][program]") {
  const std::string dir = qkv_test::scratch_dir("plot_runs");
  std::ostringstream log;
  // Probes every 2 steps in a (1 layer, 2 heads) and every 3 in b (2 layers, 1 head each),
  // so that the overlay's columns follow each run's own layout; c has no probes.
  json a = tiny(dir + "/a"), b = tiny(dir + "/b"), c = tiny(dir + "/c");
  a["probes"] = {{"interval", 2}};
  b["probes"] = {{"interval", 3}};
  b["model"]["heads"] = 1;
  b["model"]["layers"] = 2;
  for (const json& config : {a, b, c})
    Trainer(resolve_config(config, "tiny.json"), {.log = &log, .progress_bar = false}).run();
  const auto overlay =
      qkv_test::run_program({QKV_PLOT_RUNS_BINARY, dir + "/a", dir + "/c", dir + "/b", "--out", dir + "/all"}, dir);
  INFO(overlay.out + overlay.err);
  CHECK(overlay.exit_code == 0);
  CHECK(qkv_test::lines_of(dir + "/all/metrics_1.dat").size() == 6);
  // Probes of a and b, the runs that have them, in that order: steps 2, 4, 6 and 3, 6; a
  // row is the step, 4 statistics per head and 2 per parameter.
  const auto probes_a = qkv_test::lines_of(dir + "/all/probes_0.dat");
  const auto probes_b = qkv_test::lines_of(dir + "/all/probes_1.dat");
  CHECK_FALSE(fs::exists(dir + "/all/probes_2.dat"));
  REQUIRE(probes_a.size() == 3);
  REQUIRE(probes_b.size() == 2);
  CHECK(probes_a[0].substr(0, 2) == "2,");
  CHECK(probes_b[1].substr(0, 2) == "6,");
  const auto columns = [](const std::string& row) { return std::count(row.begin(), row.end(), ',') + 1; };
  const std::string first_row = qkv_test::lines_of(dir + "/a/probes.jsonl").at(0);
  size_t parameters = 0;
  for (size_t at = first_row.find("\"grad_norm\""); at != std::string::npos; at = first_row.find("\"grad_norm\"", at + 1))
    ++parameters;
  CHECK(parameters > 0);
  CHECK(columns(probes_a[0]) == static_cast<std::ptrdiff_t>(1 + 4 * 2 + 2 * parameters));
  const std::string script = qkv_test::slurp(dir + "/all/probes.gp");
  CHECK_THAT(script, Catch::Contains("'probes_0.dat' using 1:9 ") && Catch::Contains("'probes_1.dat' using 1:9 ") &&
                         Catch::Contains("\"a layer 0 head 1\"") && Catch::Contains("\"b layer 1 head 0\""));
  if (gnuplot_available()) {
    CHECK(fs::file_size(dir + "/all/metrics.png") > 0);
    CHECK(fs::file_size(dir + "/all/probes.png") > 0);
  }
  const auto missing = qkv_test::run_program({QKV_PLOT_RUNS_BINARY, dir + "/none"}, dir);
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains(dir + "/none: no metrics.jsonl in it"));

  const auto keys = qkv_test::run_program({QKV_TRAIN_BINARY, "--list-keys"}, dir);
  CHECK(keys.exit_code == 0);
  for (const KeySpec& spec : config_schema()) CHECK(keys.out.find(spec.path() + "  (") != std::string::npos);
  const auto help = qkv_test::run_program({QKV_TRAIN_BINARY, "--help"}, dir);
  CHECK_THAT(help.out, Catch::Contains("Scorers (model.scorer): additive") && Catch::Contains("Tasks: recall") &&
                           Catch::Contains("Positional kinds (model.positional): none") &&
                           Catch::Contains("--list-keys"));
}

// ctest runs each test as `tests_program "NAME"`: a semicolon splits the name in two
// (neither matches, so nothing runs), and a leading '-' reads as one of Catch's options
// (the whole program runs instead).
TEST_CASE("no test name holds a semicolon or starts with a dash, which ctest cannot run by name", "[tool]") {
  for (const auto& entry : fs::recursive_directory_iterator(QKV_SOURCE_DIR "/tests")) {
    if (entry.path().extension() != ".cpp") continue;
    std::istringstream text(qkv_test::slurp(entry.path().string()));
    for (std::string line; std::getline(text, line);) {
      const size_t at = line.find("TEST_CASE(\"");
      if (at == std::string::npos) continue;
      const std::string name = line.substr(at + 11, line.find('"', at + 11) - at - 11);
      INFO(entry.path().string() << ": " << name);
      CHECK(name.find(';') == std::string::npos);
      CHECK(name.rfind('-', 0) == std::string::npos);
    }
  }
}
