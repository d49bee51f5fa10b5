// Inputs a user can give by accident (issue 12): deep or malformed JSON, sizes that cannot
// fit, bad checkpoint metadata, leftovers of a crash, files cut by a full disk. Each must
// end in the project's own error naming the file, key and problem, or be cleaned up.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <thread>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
json tiny_config(const std::string& out_dir) {
  return {{"model", {{"d_model", 16}, {"heads", 2}, {"layers", 1}}},
          {"task", {{"name", "copy"}, {"seq_len", 9}, {"vocab", 12}, {"eval_batches", 2}}},
          {"optimizer", {{"name", "adam"}, {"lr", 0.01}}},
          {"schedule", {{"name", "cosine"}}},
          {"train", {{"steps", 6}, {"batch_size", 8}, {"eval_interval", 0}, {"checkpoint_interval", 0},
                     {"out_dir", out_dir}, {"threads", 1}, {"plots", false}}}};
}

TrainerOptions quiet(std::ostream& log, bool resume = false) {
  return {.resume = resume, .overwrite = false, .log = &log, .progress_bar = false};
}

std::string config_error(const std::function<void()>& load) {
  try {
    load();
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("the config was accepted");
  return "";
}

std::string nested(size_t levels) { return std::string(levels, '[') + "1" + std::string(levels, ']'); }

// A finished 6-step run in `dir`, then its checkpoint's metadata edited by `edit`.
void run_then_edit_checkpoint(const std::string& dir, const std::function<void(StringMap&)>& edit) {
  std::ostringstream log;
  Trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(log)).run();
  const std::string path = run_checkpoint_path(dir);
  SafetensorsContents c = load_safetensors(path);
  edit(c.metadata);
  save_safetensors(path, c.tensors, c.metadata);
}

// The message with which --resume of `dir` (train.steps set to `steps`) is refused.
std::string resume_refusal(const std::string& dir, int64_t steps) {
  std::ostringstream log;
  try {
    Trainer(load_run_config(dir, {"train.steps=" + std::to_string(steps)}), quiet(log, true));
  } catch (const CheckpointError& e) {
    return e.what();
  }
  FAIL("the resume was accepted; its log:\n" << log.str());
  return "";
}
}  // namespace

TEST_CASE("deeply nested JSON in a config or a --set value is a ConfigError, not a stack overflow",
          "[config][hardening]") {
  const std::string deep = R"({"task": {"name": "copy"}, "model": {"x": )" + nested(100000) + "}}";
  CHECK_THAT(config_error([&] { parse_config(deep, "run.json"); }),
             Catch::StartsWith("run.json: malformed JSON: it nests deeper than 64 levels"));
  const std::string set = "model.d_model=" + nested(100000);
  const std::string message =
      config_error([&] { parse_config(R"({"task": {"name": "copy"}})", "run.json", {set}); });
  CHECK_THAT(message, Catch::StartsWith("command line (--set model.d_model=[[[[") &&
                          Catch::Contains("model.d_model: expected a value nested at most 64 levels deep") &&
                          Catch::Contains("nests deeper than 64 levels"));
  CHECK(message.size() < 400);  // the argument is quoted, not copied whole
  // Depth within the limit is an ordinary wrong value.
  CHECK_THAT(config_error([&] { parse_config(R"({"task": {"name": "copy"}})", "run.json", {"model.d_model=" + nested(60)}); }),
             Catch::Contains("model.d_model: expected an integer"));
}

TEST_CASE("numbers out of range, NUL bytes and bytes that are not UTF-8 are ConfigErrors with a position",
          "[config][hardening]") {
  CHECK(config_error([&] { parse_config("{\"task\": {\"name\": \"copy\"},\n \"optimizer\": {\"lr\": 1e999}}", "run.json"); }) ==
        "run.json:2:21: malformed JSON at line 2, column 21: number overflow parsing '1e999'");
  CHECK(config_error([&] { parse_config(std::string("{\"task\": {\"name\": \"copy\"}}\n\0{\"x\": 1}", 36), "run.json"); }) ==
        "run.json:2:1: malformed JSON at line 2, column 1: a NUL byte, which JSON text cannot hold");
  const std::string not_utf8 = "train.out_dir=runs/\xff\xfe";
  CHECK(config_error([&] { parse_config(R"({"task": {"name": "copy"}})", "run.json", {not_utf8}); }) ==
        "command line (--set train.out_dir=runs/\\xFF\\xFE): --set: expected UTF-8 text, found byte \\xFF at "
        "offset 19, which is not UTF-8");
  // An invalid byte inside a config file's string is the JSON parser's to report.
  CHECK_THAT(config_error([&] { parse_config("{\"task\": {\"name\": \"co\xffpy\"}}", "run.json"); }),
             Catch::StartsWith("run.json:1:22: malformed JSON at line 1, column 22: ") && Catch::Contains("UTF-8"));
}

TEST_CASE("The folders of --out and --resume must be non-empty UTF-8 names", "[config][hardening]") {
  RunConfig config = parse_config(R"({"task": {"name": "copy"}})", "run.json");
  CHECK(config_error([&] { set_out_dir(config, "", "--out"); }) ==
        "command line (--out ): train.out_dir: expected a non-empty string of UTF-8 text, found \"\" (an empty string)");
  CHECK(config_error([&] { set_out_dir(config, "runs/\xc3", "--out"); }) ==
        "command line (--out runs/\\xC3): train.out_dir: expected a non-empty string of UTF-8 text, found "
        "\"runs/\\xC3\", whose byte \\xC3 is not UTF-8");
  set_out_dir(config, "runs/d\xc3\xa9j\xc3\xa0", "--out");
  CHECK(config.train.out_dir == "runs/d\xc3\xa9j\xc3\xa0");
  CHECK(config.resolved["train"]["out_dir"] == config.train.out_dir);
}

TEST_CASE("a folder given as the config is named as such", "[config][hardening]") {
  const std::string dir = qkv_test::scratch_dir("config_is_folder");
  CHECK(config_error([&] { load_config(dir); }) == dir + ": is a folder, not a config file");
}

TEST_CASE("train.threads and the sizes have upper bounds", "[config][hardening]") {
  const std::string base = R"({"task": {"name": "copy"}})";
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"train.threads=100000"}); }),
             Catch::EndsWith("train.threads: expected an integer in [0, 256], found 100000"));
  for (const char* key : {"model.d_model", "model.d_head", "model.d_ff", "model.layers", "model.heads",
                          "train.batch_size", "task.seq_len", "task.vocab", "task.eval_batches"}) {
    INFO(key);
    CHECK_THAT(config_error([&] { parse_config(base, "run.json", {std::string(key) + "=1e9"}); }),
               Catch::Contains(std::string(key) + ": expected an integer in [") &&
                   Catch::EndsWith("found 1000000000.0"));
  }
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"model.relative_bias=clipped", "model.relative_window=1e9"}); }),
             Catch::Contains("model.relative_window: expected an integer in [1, 65536]"));
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"model.relative_bias=t5", "model.relative_buckets=1e9"}); }),
             Catch::Contains("model.relative_buckets: expected an integer in [4, 65536]"));
}

TEST_CASE("a config that cannot fit in memory is refused naming the key that drives it", "[config][hardening]") {
  const std::string base = R"({"task": {"name": "copy"}})";
  const double machine = machine_memory_bytes();
  REQUIRE(machine > 0);
  // Each size in range on its own; together more than any machine here has.
  const std::string seq = config_error([&] { parse_config(base, "run.json", {"task.seq_len=65535"}); });
  CHECK_THAT(seq, Catch::StartsWith("command line (--set task.seq_len=65535): task.seq_len: expected sizes for which "
                                    "the run fits in this machine's ") &&
                      Catch::Contains("found 65535, for which it needs about "));
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"train.batch_size=1000000", "task.seq_len=512"}); }),
             Catch::Contains("train.batch_size: expected sizes for which the run fits"));
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"model.d_model=65536"}); }),
             Catch::Contains(": model.d_model: expected sizes for which the run fits"));
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"model.d_model=65536", "model.layers=1024"}); }),
             Catch::Contains(": model.layers: expected sizes for which the run fits"));
  CHECK_THAT(config_error([&] { parse_config(base, "run.json", {"model.scorer=additive", "model.additive_hidden=65536",
                                                                 "train.batch_size=1024"}); }),
             Catch::Contains("model.additive_hidden: expected sizes"));
  // The ready configs fit.
  for (const auto& path : qkv_test::run_config_paths()) CHECK_NOTHROW(load_config(path.string()));
}

TEST_CASE("the parameter estimate is within a few percent of the built model", "[config][hardening]") {
  const std::vector<std::vector<std::string>> variants{
      {},
      {"model.scorer=additive"},
      {"model.scorer=general", "model.positional=learned"},
      {"model.relative_bias=clipped", "model.d_head=24"},
      {"model.relative_bias=t5", "model.layers=3", "model.d_ff=100"},
  };
  for (const char* task : {R"({"task": {"name": "copy"}})", R"({"task": {"name": "pixels"}})"}) {
    for (const auto& sets : variants) {
      const RunConfig config = parse_config(task, "run.json", sets);
      const auto t = make_task(config.task);
      Generator gen(1);
      const double actual = static_cast<double>(build_model(config.model, *t, gen)->parameter_count());
      const double estimate = estimated_parameter_count(config.model, TaskSizes::of(*t));
      INFO(task << " " << json(sets).dump() << ": estimate " << estimate << ", actual " << actual);
      CHECK(std::abs(estimate - actual) <= 0.05 * actual);
    }
  }
}

TEST_CASE("resume refuses a checkpoint whose config lacks train.steps", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_no_steps");
  run_then_edit_checkpoint(dir, [](StringMap& m) {
    json config = json::parse(m["config"]);
    config["train"].erase("steps");
    m["config"] = config.dump();
  });
  CHECK(resume_refusal(dir, 8) == "checkpoint '" + run_checkpoint_path(dir) +
                                      "': __metadata__ 'config' must hold train.steps, an integer >= 1, found nothing");
}

TEST_CASE("resume refuses a saved schedule that is not the config's, naming the key", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_schedule");
  run_then_edit_checkpoint(dir, [](StringMap& m) {
    json schedule = json::parse(m["schedule"]);
    REQUIRE(schedule.contains("t_max"));
    schedule["t_max"] = schedule["t_max"].get<int64_t>() + 1;
    m["schedule"] = schedule.dump();
  });
  // Same train.steps: the schedule should be the saved one exactly.
  CHECK_THAT(resume_refusal(dir, 6), Catch::StartsWith("checkpoint '" + run_checkpoint_path(dir) +
                                                       "': __metadata__ 'schedule' is {") &&
                                         Catch::Contains("but the run's config (over its train.steps 6) gives {"));
  // A longer run: the saved schedule is still checked, over the saved length.
  CHECK_THAT(resume_refusal(dir, 12), Catch::Contains("__metadata__ 'schedule' is {"));
}

TEST_CASE("a longer resumed run stretches a spanning schedule with a note", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_stretch");
  std::ostringstream first, second;
  Trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(first)).run();
  Trainer resumed(load_run_config(dir, {"train.steps=9"}), quiet(second, true));
  CHECK(second.str().find("note: train.steps changed from 6 to 9, so the cosine schedule now spans") != std::string::npos);
  CHECK(resumed.step() == 6);
}

TEST_CASE("resume names the checkpoint, the metadata key and the problem for bad metadata", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_metadata");
  const std::string path = run_checkpoint_path(dir);
  std::ostringstream log;
  Trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(log)).run();
  const SafetensorsContents good = load_safetensors(path);
  const auto refusal = [&](const std::function<void(StringMap&)>& edit) {
    StringMap meta = good.metadata;
    edit(meta);
    save_safetensors(path, good.tensors, meta);
    return resume_refusal(dir, 6);
  };
  const std::string prefix = "checkpoint '" + path + "': ";
  CHECK(refusal([](StringMap& m) { m.clear(); }) ==
        prefix + "not a qkv checkpoint (__metadata__ 'format' is missing, not 'qkv.checkpoint.v1')");
  CHECK(refusal([](StringMap& m) { m.erase("schedule"); }) ==
        prefix + "__metadata__ 'schedule' is missing; the trainer saves its schedule in every checkpoint");
  CHECK_THAT(refusal([](StringMap& m) { m["config"] = "{oops"; }),
             Catch::StartsWith(prefix + "__metadata__ 'config' is not valid JSON: syntax error") &&
                 Catch::Contains("(at byte 2 of its text)"));
  CHECK(refusal([](StringMap& m) { m["config"] = "[1, 2]"; }) ==
        prefix + "__metadata__ 'config' must be a run config (a JSON object of sections), found array");
  CHECK(refusal([](StringMap& m) { m["config"] = "null"; }) ==
        prefix + "__metadata__ 'config' must be a run config (a JSON object of sections), found null");
  CHECK(refusal([](StringMap& m) { m["config"] = R"({"train": 5})"; }) ==
        prefix + "__metadata__ 'config' section 'train' must be an object, found number");
  CHECK(refusal([](StringMap& m) { m["config"] = R"({"train": {"steps": "6"}})"; }) ==
        prefix + "__metadata__ 'config' must hold train.steps, an integer >= 1, found \"6\"");
  CHECK(refusal([](StringMap& m) { m["schedule"] = "[]"; }) ==
        prefix + "__metadata__ 'schedule' must be a JSON object, found array");
  CHECK_THAT(refusal([](StringMap& m) { m["config"] = nested(100000); }),
             Catch::StartsWith(prefix + "__metadata__ 'config' is not valid JSON: nests deeper than 64 levels"));
}

TEST_CASE("resume removes the temporary files of saves a crash interrupted, and only those", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_temp_files");
  std::ostringstream first;
  Trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(first)).run();
  const std::vector<std::string> stale{".checkpoint.safetensors.tmp-4242-0", ".metrics.csv.tmp-17-3",
                                       ".config.json.tmp-1-12"};
  const std::vector<std::string> foreign{"checkpoint.safetensors.tmp-4242-0", ".notes.tmp-mine", ".x.tmp-1-",
                                         "my.safetensors", ".checkpoint.safetensors.tmp-12"};
  for (const std::string& name : stale) std::ofstream(dir + "/" + name) << "partial";
  for (const std::string& name : foreign) std::ofstream(dir + "/" + name) << "the user's";
  std::ostringstream log;
  Trainer(load_run_config(dir, {"train.steps=8"}), quiet(log, true)).run();
  for (const std::string& name : stale) {
    CHECK_FALSE(fs::exists(dir + "/" + name));
    CHECK(log.str().find("removed " + dir + "/" + name + ", left by a save that did not finish") != std::string::npos);
  }
  for (const std::string& name : foreign) CHECK(fs::exists(dir + "/" + name));
}

TEST_CASE("resume drops metrics rows a crash cut short, in the CSV as in the JSONL", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("resume_cut_rows");
  {
    MetricsLog log(dir, std::nullopt);
    for (int64_t step = 1; step <= 4; ++step) log.write({.step = step, .loss = 0.5});
  }
  const std::vector<std::string> csv = qkv_test::lines_of(dir + "/metrics.csv");
  const std::vector<std::string> jsonl = qkv_test::lines_of(dir + "/metrics.jsonl");
  REQUIRE(csv.size() == 5);
  // Row 4 cut in the middle of a field, then without its last field, then before its newline.
  for (const std::string& cut : {csv[4].substr(0, 8), csv[4].substr(0, csv[4].rfind(',')), csv[4]}) {
    INFO(cut);
    std::ofstream(dir + "/metrics.csv", std::ios::trunc) << csv[0] << "\n" << csv[1] << "\n" << csv[2] << "\n"
                                                         << csv[3] << "\n" << cut;
    std::ofstream(dir + "/metrics.jsonl", std::ios::trunc) << jsonl[0] << "\n" << jsonl[1] << "\n" << jsonl[2] << "\n"
                                                           << jsonl[3];
    MetricsLog resumed(dir, 4);
    CHECK(qkv_test::lines_of(dir + "/metrics.csv") == std::vector<std::string>(csv.begin(), csv.begin() + 4));
    CHECK(qkv_test::lines_of(dir + "/metrics.jsonl") == std::vector<std::string>(jsonl.begin(), jsonl.begin() + 3));
  }
}

TEST_CASE("a metrics write that fails (full disk) is an error naming the file", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("metrics_full_disk");
  REQUIRE(fs::exists("/dev/full"));  // Linux's always-full device
  fs::create_symlink("/dev/full", dir + "/metrics.jsonl");
  MetricsLog log(dir, std::nullopt);
  CHECK_THROWS_MATCHES(log.write({.step = 1}), RunFileError,
                       Catch::Matchers::Message("cannot write " + dir + "/metrics.jsonl (the row of step 1): " +
                                                std::strerror(ENOSPC)));
}

TEST_CASE("the non-finite message says when no checkpoint exists yet", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("nonfinite_no_checkpoint");
  std::ostringstream log;
  Trainer trainer(resolve_config(tiny_config(dir), "tiny.json"), quiet(log));
  trainer.model().named_parameters()[0].second.data()[0] = std::nan("");
  CHECK_THROWS_MATCHES(trainer.save_checkpoint(), NonFiniteError,
                       Catch::Matchers::Message("step 0: parameter " + trainer.model().named_parameters()[0].first +
                                                " is not finite; no checkpoint was saved before it"));
}

TEST_CASE("more threads than cores run, with a note saying they slow every step", "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("threads_note");
  const unsigned cores = std::thread::hardware_concurrency();
  REQUIRE(cores > 0);
  json config = tiny_config(dir);
  config["train"]["threads"] = cores + 1;
  std::ostringstream log;
  Trainer trainer(resolve_config(config, "tiny.json"), quiet(log));
  CHECK(log.str().find("threads: " + std::to_string(cores + 1) + " (more than this machine's " +
                       std::to_string(cores) + " cores: every step runs slower)") != std::string::npos);
  configure_threads(1);
}

TEST_CASE("train --eval and train.init_from refuse a FIFO in place of the config or checkpoint at once",
          "[trainer][hardening]") {
  const std::string dir = qkv_test::scratch_dir("fifo_run");
  std::ostringstream log;
  Trainer(resolve_config(tiny_config(dir + "/run"), "tiny.json"), quiet(log)).run();
  // A FIFO without a writer blocks whoever opens it for reading: these would hang.
  const std::string checkpoint = run_checkpoint_path(dir + "/run");
  fs::remove(checkpoint);
  REQUIRE(::mkfifo(checkpoint.c_str(), 0600) == 0);
  std::ostringstream out;
  CHECK_THROWS_WITH(inspect_run(dir + "/run", {.examples = 1}, out),
                    Catch::Contains("cannot read '" + checkpoint + "': it is a FIFO (named pipe), not a regular file"));
  json warm = tiny_config(dir + "/warm");
  warm["train"]["init_from"] = dir + "/run";
  CHECK_THROWS_WITH(Trainer(resolve_config(warm, "warm.json"), quiet(log)),
                    Catch::StartsWith("train.init_from " + dir + "/run: cannot read '" + checkpoint +
                                      "': it is a FIFO (named pipe), not a regular file"));
  const std::string config = run_config_path(dir + "/run");
  fs::remove(config);
  REQUIRE(::mkfifo(config.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(inspect_run(dir + "/run", {.examples = 1}, out),
                    Catch::Contains(config + ": cannot open the config file (cannot read '" + config +
                                    "': it is a FIFO (named pipe), not a regular file)"));
}
