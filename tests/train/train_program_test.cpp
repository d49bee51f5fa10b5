// The train program end to end, run as a child process: exact resume, Ctrl-C, the
// non-finite guard and command-line errors, each judged by exit code, files and messages.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
using qkv_test::Outcome;

using Args = std::vector<std::string>;

Args train_argv(const Args& args) {
  Args argv{QKV_TRAIN_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// Runs train with args, capturing stdout and stderr in dir.
Outcome run_train(const Args& args, const std::string& dir, qkv_test::ChildOptions options = {}) {
  return qkv_test::run_program(train_argv(args), dir, options);
}

// Starts train with args and sends it each of `signals` in turn, each after its delay in
// seconds; then waits for it to end.
Outcome signalled_train(const Args& args, const std::string& dir, const std::vector<std::pair<double, int>>& signals) {
  qkv_test::ChildOptions options;
  options.out_file = dir + "/stdout.txt";
  options.err_file = dir + "/stderr.txt";
  qkv_test::Child child(train_argv(args), options);
  for (const auto& [delay, signo] : signals) {
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    child.signal(signo);
  }
  Outcome o;
  o.exit_code = child.wait();
  o.out = qkv_test::slurp(options.out_file);
  o.err = qkv_test::slurp(options.err_file);
  return o;
}

// A small run with dropout (its masks must resume too) and a step schedule.
std::string write_config(const std::string& dir) {
  const json config = {
      {"model", {{"d_model", 16}, {"heads", 2}, {"layers", 2}, {"dropout", 0.1}}},
      {"task", {{"name", "reverse"}, {"seq_len", 9}, {"vocab", 12}, {"eval_batches", 2}}},
      {"optimizer", {{"name", "adamw"}, {"lr", 0.005}}},
      {"schedule", {{"name", "step"}, {"step_size", 7}, {"gamma", 0.5}}},
      {"train", {{"steps", 16}, {"batch_size", 8}, {"eval_interval", 4}, {"checkpoint_interval", 3},
                 {"threads", 1}, {"grad_clip", 0.5}, {"plots", false}}}};
  const std::string path = dir + "/run.json";
  std::ofstream(path) << config.dump(2);
  return path;
}

NamedTensors model_tensors(const std::string& checkpoint) {
  NamedTensors model;
  for (auto& [name, t] : load_safetensors(checkpoint).tensors)
    if (name.rfind("model.", 0) == 0 || name.rfind("optim.", 0) == 0) model.emplace_back(name, t);
  return model;
}

// The metrics rows without the wall-clock column.
std::vector<json> rows_without_time(const std::string& run_dir) {
  auto rows = qkv_test::jsonl_rows(run_dir + "/metrics.jsonl");
  for (json& r : rows) r.erase("step_time");
  return rows;
}

int64_t checkpoint_step(const std::string& run_dir) {
  return std::stoll(load_safetensors(run_dir + "/checkpoint.safetensors").metadata.at("step"));
}

// The run in `dir`, resumed to `steps`, ends exactly like an uninterrupted run of `steps`
// (parameters, optimiser state and metrics rows, bit for bit), with no temp file left.
void check_resumes_exactly(const std::string& config, const std::string& dir, int64_t steps) {
  const Outcome resumed = run_train({"--resume", dir + "/run", "--set", "train.steps=" + std::to_string(steps)}, dir);
  INFO(resumed.out + resumed.err);
  REQUIRE(resumed.exit_code == 0);
  const Outcome whole =
      run_train({config, "--set", "train.steps=" + std::to_string(steps), "--out", dir + "/whole"}, dir);
  REQUIRE(whole.exit_code == 0);
  const NamedTensors a = model_tensors(dir + "/whole/checkpoint.safetensors");
  const NamedTensors b = model_tensors(dir + "/run/checkpoint.safetensors");
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    const std::vector<Scalar> x = a[i].second.to_vector(), y = b[i].second.to_vector();
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(Scalar)) == 0);
  }
  CHECK(rows_without_time(dir + "/whole") == rows_without_time(dir + "/run"));
  CHECK(qkv_test::lines_of(dir + "/whole/metrics.csv").size() == qkv_test::lines_of(dir + "/run/metrics.csv").size());
  for (const auto& entry : fs::directory_iterator(dir + "/run"))
    CHECK_FALSE(is_atomic_write_temp(entry.path().filename().string()));
}

}  // namespace

TEST_CASE("train: N steps, then --resume for N more, gives the 2N-step run bit for bit", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_resume");
  const std::string config = write_config(dir);
  const Outcome whole = run_train({config, "--out", dir + "/whole"}, dir);
  INFO(whole.err);
  REQUIRE(whole.exit_code == 0);
  // 8 steps: a multiple of eval_interval, so both runs evaluate at step 8; the last
  // checkpoint interval (6) is not the end: the end saves its own.
  const Outcome half = run_train({config, "--set", "train.steps=8", "--out", dir + "/half"}, dir);
  REQUIRE(half.exit_code == 0);
  const Outcome resumed = run_train({"--resume", dir + "/half", "--set", "train.steps=16"}, dir);
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK(resumed.out.find("resuming at step 8 of 16") != std::string::npos);

  const NamedTensors a = model_tensors(dir + "/whole/checkpoint.safetensors");
  const NamedTensors b = model_tensors(dir + "/half/checkpoint.safetensors");
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() > 20);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].first);
    REQUIRE(a[i].first == b[i].first);
    const std::vector<Scalar> x = a[i].second.to_vector(), y = b[i].second.to_vector();
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(Scalar)) == 0);
  }
  CHECK(rows_without_time(dir + "/whole") == rows_without_time(dir + "/half"));
  // The run folder's config now says 16 steps, the rest unchanged.
  json expected = json::parse(qkv_test::slurp(dir + "/whole/config.json"));
  expected["train"]["out_dir"] = dir + "/half";
  CHECK(json::parse(qkv_test::slurp(dir + "/half/config.json")) == expected);
}

TEST_CASE("train: Ctrl-C finishes the step, saves a checkpoint, exits 130, --resume continues", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_sigint");
  const std::string config = write_config(dir);
  // Long enough that SIGINT arrives mid-run.
  const Outcome stopped =
      signalled_train({config, "--set", "train.steps=1000000", "--out", dir + "/run"}, dir, {{2.0, SIGINT}});
  INFO(stopped.out + stopped.err);
  CHECK(stopped.exit_code == 130);
  CHECK(stopped.out.find("stopped on SIGINT") != std::string::npos);
  // The command it suggests is the one that ran.
  CHECK(stopped.out.find("Continue with: " QKV_TRAIN_BINARY " --resume " + dir + "/run") != std::string::npos);
  REQUIRE(fs::exists(dir + "/run/checkpoint.safetensors"));
  const int64_t step = std::stoll(load_safetensors(dir + "/run/checkpoint.safetensors").metadata.at("step"));
  CHECK(step > 0);
  // The metrics end at the checkpoint's step.
  CHECK(int64_t(qkv_test::jsonl_rows(dir + "/run/metrics.jsonl").size()) == step);

  const Outcome resumed =
      run_train({"--resume", dir + "/run", "--set", "train.steps=" + std::to_string(step + 3)}, dir);
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  const auto rows = qkv_test::jsonl_rows(dir + "/run/metrics.jsonl");
  REQUIRE(int64_t(rows.size()) == step + 3);
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i]["step"] == int64_t(i) + 1);
}

TEST_CASE("train: a non-finite loss stops with the step and parameter, exit 3, checkpoint kept", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_nonfinite");
  const std::string config = write_config(dir);
  const Outcome o = run_train(
      {config, "--set", "optimizer.lr=1e30", "--set", "train.checkpoint_interval=1", "--out", dir + "/run"}, dir);
  INFO(o.err);
  CHECK(o.exit_code == 3);
  CHECK(o.err.find("non-finite values: step ") != std::string::npos);
  CHECK(o.err.find("the gradient of ") != std::string::npos);
  CHECK(o.err.find("embed.weight") != std::string::npos);  // the first parameter
  CHECK(o.err.find("the last good checkpoint stays") != std::string::npos);
  REQUIRE(fs::exists(dir + "/run/checkpoint.safetensors"));
  for (auto& [name, t] : model_tensors(dir + "/run/checkpoint.safetensors"))
    for (Scalar x : t.to_vector()) REQUIRE(std::isfinite(x));
}

TEST_CASE("train: command-line and config errors exit non-zero with the message on stderr", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_errors");
  const std::string config = write_config(dir);

  const Outcome help = run_train({"--help"}, dir);
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--resume") != std::string::npos);
  CHECK(help.out.find("Exit codes") != std::string::npos);

  const Outcome none = run_train({}, dir);
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("give a CONFIG file") != std::string::npos);

  const Outcome both = run_train({config, "--resume", dir}, dir);
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("not both") != std::string::npos);

  const Outcome unknown_flag = run_train({config, "--bogus"}, dir);
  CHECK(unknown_flag.exit_code == 2);

  const Outcome missing = run_train({dir + "/nope.json"}, dir);
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("nope.json: cannot open the config file") != std::string::npos);

  const Outcome bad = run_train({config, "--set", "model.dropuot=0.1", "--set", "train.steps=0", "--out", dir + "/x"}, dir);
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("2 problems in the config") != std::string::npos);
  CHECK(bad.err.find("did you mean \"dropout\"") != std::string::npos);
  CHECK(bad.err.find("train.steps: expected an integer >= 1, found 0") != std::string::npos);
  CHECK_FALSE(fs::exists(dir + "/x"));  // nothing written before the config is valid

  const Outcome no_run = run_train({"--resume", dir + "/absent"}, dir);
  CHECK(no_run.exit_code == 1);
  CHECK(no_run.err.find("no such run folder") != std::string::npos);
}

TEST_CASE("train: SIGKILL during training and saving loses nothing that --resume cannot redo", "[trainer][program][faults]") {
  const std::string dir = qkv_test::scratch_dir("program_sigkill");
  const std::string config = write_config(dir);
  // A checkpoint every step, so the kill often lands inside a save.
  const Outcome killed = signalled_train(
      {config, "--set", "train.steps=1000000", "--set", "train.checkpoint_interval=1", "--out", dir + "/run"}, dir,
      {{2.0, SIGKILL}});
  CHECK(killed.exit_code == 128 + SIGKILL);
  REQUIRE(fs::exists(dir + "/run/checkpoint.safetensors"));
  check_resumes_exactly(config, dir, checkpoint_step(dir + "/run") + 5);
}

TEST_CASE("train: a second Ctrl-C ends at once, the run resumes from the last checkpoint", "[trainer][program][faults]") {
  const std::string dir = qkv_test::scratch_dir("program_double_sigint");
  const std::string config = write_config(dir);
  const Outcome stopped = signalled_train({config, "--set", "train.steps=1000000", "--out", dir + "/run"}, dir,
                                         {{2.0, SIGINT}, {0.01, SIGINT}});
  CHECK(stopped.exit_code == 130);
  REQUIRE(fs::exists(dir + "/run/checkpoint.safetensors"));
  check_resumes_exactly(config, dir, checkpoint_step(dir + "/run") + 5);
}

TEST_CASE("train: a full disk stops the run with the file named, --resume then completes it exactly",
          "[trainer][program][faults]") {
  const std::string dir = qkv_test::scratch_dir("program_full_disk");
  const std::string config = write_config(dir);
  // A small model, so that its checkpoint is small beside a few hundred metrics rows.
  json small = json::parse(qkv_test::slurp(config));
  small["model"]["d_model"] = 8;
  small["model"]["layers"] = 1;
  std::ofstream(config, std::ios::trunc) << small.dump(2);
  // A file-size limit stands in for a full disk: writes past it fail with EFBIG (the
  // program ignores SIGXFSZ, which would kill it without a word; this harness leaves the
  // signal as a shell's `ulimit -f` does). 40 KiB, which the checkpoint fits under and
  // metrics.jsonl (about 150 bytes a step) outgrows.
  const int64_t steps = 400;
  qkv_test::ChildOptions full_disk;
  full_disk.file_size_limit = 40 << 10;
  const Outcome full =
      run_train({config, "--set", "train.steps=" + std::to_string(steps), "--out", dir + "/run"}, dir, full_disk);
  INFO(full.out + full.err);
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.err, Catch::Contains("train: cannot write " + dir + "/run/metrics.") &&
                           Catch::Contains(std::strerror(EFBIG)) && Catch::Contains("The run stops at step ") &&
                           Catch::Contains("the last good checkpoint stays in " + dir + "/run/checkpoint.safetensors"));
  const int64_t saved = checkpoint_step(dir + "/run");
  CHECK(saved < steps);
  check_resumes_exactly(config, dir, steps);
}

TEST_CASE("train: a run folder named with a shell's quotes, $() and backticks is just a name", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_shell_name");
  const std::string config = write_config(dir);
  // Were the name ever pasted into a shell command, one of these would create `pwned`.
  const std::string out = dir + "/run '\"; touch pwned; $(touch pwned) `touch pwned`\nx";
  const Outcome o = run_train({config, "--set", "train.steps=2", "--set", "train.plots=true", "--out", out}, dir);
  INFO(o.err);
  CHECK(o.exit_code == 0);
  CHECK(fs::exists(out + "/metrics.jsonl"));
  CHECK_FALSE(fs::exists(dir + "/pwned"));
  CHECK_FALSE(fs::exists("pwned"));
  fs::remove_all(dir);
}

TEST_CASE("train: hostile configs and folder names end in a message and exit 1, creating nothing", "[trainer][program]") {
  const std::string dir = qkv_test::scratch_dir("program_hostile");
  const std::string deep = dir + "/deep.json";
  std::ofstream(deep) << std::string(100000, '[') << std::string(100000, ']');
  const Outcome nested = run_train({deep, "--out", dir + "/x"}, dir);
  CHECK(nested.exit_code == 1);
  CHECK(nested.err == "train: " + deep + ": malformed JSON: it nests deeper than 64 levels of objects and arrays (a run config nests 2)\n");

  const std::string config = write_config(dir);
  const Outcome empty_out = run_train({config, "--out", ""}, dir);
  CHECK(empty_out.exit_code == 1);
  CHECK_THAT(empty_out.err, Catch::Contains("command line (--out ): train.out_dir: expected a non-empty string"));

  const Outcome bad_utf8 = run_train({config, "--set", "train.out_dir=" + dir + "/\xff"}, dir);
  CHECK(bad_utf8.exit_code == 1);
  CHECK_THAT(bad_utf8.err, Catch::Contains("--set: expected UTF-8 text, found byte \\xFF"));

  const Outcome threads = run_train({config, "--set", "train.threads=100000", "--out", dir + "/x"}, dir);
  CHECK(threads.exit_code == 1);
  CHECK_THAT(threads.err, Catch::Contains("train.threads: expected an integer in [0, 256], found 100000"));
  CHECK(std::vector<fs::path>(fs::directory_iterator(dir), {}).size() == 4);  // run.json, deep.json, the two logs
}
