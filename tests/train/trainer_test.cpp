// Trainer runs in-process: the run folder, evaluation, refusals and the non-finite guard.
#include <catch2/catch.hpp>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
json tiny_config(const std::string& out_dir) {
  return {{"model", {{"d_model", 16}, {"heads", 2}, {"layers", 1}, {"dropout", 0.1}}},
          {"task", {{"name", "copy"}, {"seq_len", 9}, {"vocab", 12}, {"eval_batches", 2}}},
          {"optimizer", {{"name", "adam"}, {"lr", 0.01}}},
          {"train", {{"steps", 12}, {"batch_size", 8}, {"eval_interval", 5}, {"log_interval", 4},
                     {"checkpoint_interval", 0}, {"out_dir", out_dir}, {"threads", 1}, {"plots", false}}}};
}

TrainerOptions quiet(std::ostream& log, bool resume = false) {
  return {.resume = resume, .overwrite = false, .log = &log, .progress_bar = false};
}
}  // namespace

TEST_CASE("a run fills its folder: config.json, metrics files, probes, plots, final checkpoint", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("run_folder");
  json with_probes = tiny_config(dir);
  with_probes["probes"] = {{"interval", 4}};
  with_probes["train"]["plots"] = true;
  const RunConfig config = resolve_config(with_probes, "tiny.json");
  std::ostringstream log;
  Trainer trainer(config, quiet(log));
  const TrainResult result = trainer.run();
  CHECK(result.reason == StopReason::finished);
  CHECK(result.steps == 12);
  REQUIRE(result.eval);
  CHECK(result.eval->accuracy >= 0);
  CHECK(log.str().find("threads: 1") != std::string::npos);
  CHECK(log.str().find("eval at step 5") != std::string::npos);

  CHECK(json::parse(qkv_test::slurp(dir + "/config.json")) == config.resolved);
  const auto rows = qkv_test::jsonl_rows(dir + "/metrics.jsonl");
  REQUIRE(rows.size() == 12);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t step = rows[i]["step"];
    CHECK(step == int64_t(i) + 1);
    // Evaluations at every eval_interval and at the end.
    CHECK(rows[i].contains("eval_loss") == (step % 5 == 0 || step == 12));
    CHECK_FALSE(rows[i].contains("grad_norms"));  // per parameter: probes.jsonl only
    CHECK(rows[i]["step_time"].get<double>() > 0);
  }
  CHECK(qkv_test::lines_of(dir + "/metrics.csv").size() == 13);  // header + 12 rows

  // Probes at steps 4, 8, 12: 1 layer of 2 heads, every parameter.
  const auto probes = qkv_test::jsonl_rows(dir + "/probes.jsonl");
  REQUIRE(probes.size() == 3);
  CHECK(probes[0]["step"] == 4);
  CHECK(probes[2]["step"] == 12);
  REQUIRE(probes[0]["attention"].size() == 1);
  REQUIRE(probes[0]["attention"][0].size() == 2);
  for (const json& head : probes[0]["attention"][0]) {
    // Entropy of 9 keys lies in (0, ln 9]; the Jacobian norm of a row is at most 1.
    CHECK(head["entropy"].get<double>() > 0);
    CHECK(head["entropy"].get<double>() <= std::log(9.0) + 1e-9);
    CHECK(head["jacobian_norm"].get<double>() > 0);
    CHECK(head["jacobian_norm"].get<double>() <= 1);
    CHECK(head["max_weight"].get<double>() >= 1.0 / 9 - 1e-6);
    CHECK(head["dead_fraction"].get<double>() >= 0);
  }
  REQUIRE(probes[0]["parameters"].size() == trainer.model().named_parameters().size());
  // The global norm is the norm of the per-parameter norms; Adam moves every weight.
  double sq = 0;
  for (const auto& [name, p] : probes[0]["parameters"].items()) {
    sq += p["grad_norm"].get<double>() * p["grad_norm"].get<double>();
    if (name.find("weight") != std::string::npos) CHECK(p["update_ratio"].get<double>() > 0);
  }
  CHECK(std::sqrt(sq) == Approx(rows[3]["grad_norm"].get<double>()));

  // Plots of its own metrics and probes, when gnuplot can draw them.
  if (gnuplot_available()) {
    CHECK(fs::file_size(dir + "/plots/metrics.png") > 0);
    CHECK(fs::file_size(dir + "/plots/probes.png") > 0);
  }

  // The checkpoint holds the final state.
  Generator gen(0);
  const auto task = make_task(config.task);
  auto fresh = build_model(config.model, *task, gen);
  TrainingState state{.model = fresh.get()};
  load_checkpoint(dir + "/checkpoint.safetensors", state);
  CHECK(state.step == 12);
  CHECK(state.config == config.resolved);
  CHECK(fresh->parameter("head.weight").to_vector() == trainer.model().parameter("head.weight").to_vector());

  // evaluate() is a pure function of the parameters and the held-out set.
  const EvalResult a = trainer.evaluate(), b = trainer.evaluate();
  CHECK(a.loss == b.loss);
  CHECK(a.loss == Approx(result.eval->loss));
}

TEST_CASE("a folder that holds a run is not overwritten by accident", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("refuse");
  const RunConfig config = resolve_config(tiny_config(dir), "tiny.json", {"train.steps=2"});
  std::ostringstream log;
  Trainer(config, quiet(log)).run();
  CHECK_THROWS_WITH(Trainer(config, quiet(log)),
                    Catch::Contains("already holds a run") && Catch::Contains("--resume " + dir) &&
                        Catch::Contains("--overwrite"));
  TrainerOptions overwrite = quiet(log);
  overwrite.overwrite = true;
  CHECK(Trainer(config, overwrite).run().steps == 2);
}

TEST_CASE("an overwritten run leaves nothing of the old one, and a refused start leaves the old one whole",
          "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("overwrite_clean");
  json first = tiny_config(dir);
  first["probes"] = {{"interval", 4}};
  first["train"]["steps"] = 8;
  std::ostringstream log;
  Trainer(resolve_config(first, "tiny.json"), quiet(log)).run();
  fs::create_directories(dir + "/inspect");  // heatmaps of the old run (--eval)
  REQUIRE(fs::exists(dir + "/probes.jsonl"));
  TrainerOptions overwrite = quiet(log);
  overwrite.overwrite = true;

  // A start refused on its warm start (a source of another model) must not have removed
  // anything: the old run can still be resumed.
  const std::string other = qkv_test::scratch_dir("overwrite_other_model");
  json wider = tiny_config(other);
  wider["model"]["d_model"] = 24;
  wider["train"]["steps"] = 2;
  Trainer(resolve_config(wider, "wider.json"), quiet(log)).run();
  CHECK_THROWS_WITH(Trainer(resolve_config(tiny_config(dir), "tiny.json", {"train.init_from=" + other}), overwrite),
                    Catch::Contains("train.init_from " + other));
  CHECK(fs::exists(dir + "/checkpoint.safetensors"));
  CHECK(fs::exists(dir + "/probes.jsonl"));
  // init_from naming the folder being overwritten reads its weights before they go.
  CHECK(Trainer(resolve_config(tiny_config(dir), "tiny.json", {"train.init_from=" + dir, "train.steps=2"}), overwrite)
            .run()
            .steps == 2);
  // The new run has no probes: the old run's probes and heatmaps are gone with it.
  CHECK_FALSE(fs::exists(dir + "/probes.jsonl"));
  CHECK_FALSE(fs::exists(dir + "/inspect"));
  CHECK(fs::exists(dir + "/checkpoint.safetensors"));
  // A refused warm start into a folder that does not exist yet leaves none behind.
  const std::string never = dir + "_never";
  CHECK_THROWS(Trainer(resolve_config(tiny_config(never), "tiny.json", {"train.init_from=" + other}), quiet(log)));
  CHECK_FALSE(fs::exists(never));
}

TEST_CASE("resume refuses a run whose computation changed, and a folder without a checkpoint", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("resume_refuse");
  std::ostringstream log;
  Trainer(resolve_config(tiny_config(dir), "tiny.json", {"train.steps=2"}), quiet(log)).run();
  CHECK_THROWS_WITH(Trainer(load_run_config(dir, {"optimizer.lr=0.5"}), quiet(log, true)),
                    Catch::Contains("optimizer.lr (was 0.01, now 0.5)") && Catch::Contains("train.steps"));
  // Only the step count changes: fine.
  CHECK(Trainer(load_run_config(dir, {"train.steps=3"}), quiet(log, true)).run().steps == 3);
  // A run already past its steps has nothing to do.
  CHECK(Trainer(load_run_config(dir, {"train.steps=3"}), quiet(log, true)).run().steps == 3);
  CHECK(log.str().find("nothing to do") != std::string::npos);

  fs::remove(dir + "/checkpoint.safetensors");
  CHECK_THROWS_WITH(Trainer(load_run_config(dir), quiet(log, true)), Catch::Contains("no checkpoint.safetensors"));
  CHECK_THROWS_WITH(load_run_config(dir + "/missing"), Catch::Contains("no such run folder"));
}

TEST_CASE("a stop request ends the run after the current step, with a checkpoint", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("stop");
  std::ostringstream log;
  Trainer trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(log));
  request_stop(SIGTERM);
  const TrainResult r = trainer.run();
  clear_stop();
  CHECK(r.reason == StopReason::interrupted);
  CHECK(r.signal == SIGTERM);
  CHECK(r.steps == 0);
  CHECK(fs::exists(dir + "/checkpoint.safetensors"));
  CHECK(log.str().find("stopped on SIGTERM") != std::string::npos);
}

TEST_CASE("a non-finite loss or gradient stops the run, naming step and parameter", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("nonfinite");
  // A learning rate of 1e30 sends the weights to ~1e30 after the first update; the next
  // forward pass overflows.
  const RunConfig config = resolve_config(tiny_config(dir), "tiny.json",
                                          {"optimizer.lr=1e30", "train.checkpoint_interval=1", "model.dropout=0"});
  std::ostringstream log;
  Trainer trainer(config, quiet(log));
  const std::string before = qkv_test::slurp(dir + "/config.json");
  try {
    trainer.run();
    FAIL("the run finished");
  } catch (const NonFiniteError& e) {
    INFO(e.what());
    CHECK(e.step() >= 2);
    CHECK_FALSE(e.parameter().empty());
    CHECK(std::string(e.what()).find("step " + std::to_string(e.step()) + ":") == 0);
    CHECK(std::string(e.what()).find("the gradient of " + e.parameter()) != std::string::npos);
    // The parameter named is the first with a non-finite gradient, in named_parameters order.
    const auto params = trainer.model().named_parameters();
    bool seen = false;
    for (const auto& [name, p] : params) {
      bool finite = true;
      for (Scalar g : p.grad().to_vector()) finite = finite && std::isfinite(g);
      if (name == e.parameter()) {
        CHECK_FALSE(finite);
        seen = true;
        break;
      }
      CHECK(finite);
    }
    CHECK(seen);
    // The last good checkpoint is the step before; the metrics stop there too.
    Generator gen(0);
    const auto task = make_task(config.task);
    auto model = build_model(config.model, *task, gen);
    TrainingState state{.model = model.get()};
    load_checkpoint(dir + "/checkpoint.safetensors", state);
    CHECK(state.step == e.step() - 1);
    for (const auto& [name, p] : model->named_parameters())
      for (Scalar x : p.to_vector()) REQUIRE(std::isfinite(x));
    CHECK(int64_t(qkv_test::jsonl_rows(dir + "/metrics.jsonl").size()) == e.step() - 1);
  }
}

TEST_CASE("a probes row that cannot be written stops the run with the file named, as a metrics row does",
          "[trainer][probes]") {
  const std::string dir = qkv_test::scratch_dir("probes_full_disk");
  REQUIRE(fs::exists("/dev/full"));  // Linux's always-full device
  fs::create_symlink("/dev/full", dir + "/probes.jsonl");
  json config = tiny_config(dir);
  config["probes"] = {{"interval", 2}};
  std::ostringstream log;
  Trainer trainer(resolve_config(config, "tiny.json"), quiet(log));
  CHECK_THROWS_MATCHES(trainer.run(), RunFileError,
                       Catch::Matchers::Predicate<RunFileError>([&](const RunFileError& e) {
                         const std::string m = e.what();
                         return m.find("cannot write " + dir + "/probes.jsonl (the row of step 2)") == 0 &&
                                m.find("The run stops at step 2") != std::string::npos;
                       }));
}
