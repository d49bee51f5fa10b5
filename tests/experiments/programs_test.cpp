// The experiment programs as a user runs them: exit codes and messages.
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "../child_process.h"

namespace fs = std::filesystem;

namespace {
struct Outcome {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Outcome run(const std::vector<std::string>& argv, long file_size_limit = -1) {
  // One file per process: ctest runs this file's test cases side by side.
  const fs::path log =
      fs::path(QKV_BINARY_DIR) / "test-scratch" / ("program_output_" + std::to_string(getpid()) + ".txt");
  fs::create_directories(log.parent_path());
  qkv_test::ChildOptions options;
  options.file_size_limit = file_size_limit;
  options.out_file = options.err_file = log.string();
  const int status = qkv_test::Child(argv, options).wait();
  return {status, qkv_test::slurp(log.string())};
}
}  // namespace

TEST_CASE("experiment programs: --help, bad command lines and bad configs", "[experiments][programs]") {
  for (const char* program : {QKV_VANISHING_BINARY, QKV_POSITION_BINARY, QKV_SCORERS_BINARY}) {
    INFO(program);
    Outcome help = run({program, "--help"});
    CHECK(help.status == 0);
    CHECK_THAT(help.output, Catch::Contains("--out") && Catch::Contains("--set") &&
                                Catch::Contains("Scorers (model.scorer): additive") && Catch::Contains("Tasks: recall"));
    Outcome bad_option = run({program, "--bogus"});
    CHECK(bad_option.status == 2);
    CHECK_THAT(bad_option.output, Catch::Contains("--bogus"));
    Outcome missing = run({program, "/nonexistent/config.json"});
    CHECK(missing.status == 1);
    CHECK_THAT(missing.output, Catch::Contains("/nonexistent/config.json: cannot open the file"));
  }
  const fs::path dir = fs::path(QKV_BINARY_DIR) / "test-scratch" / "programs";
  fs::create_directories(dir);
  std::ofstream(dir / "bad.json") << R"({"probe": {"seeds": "many"}})";
  Outcome bad = run({QKV_VANISHING_BINARY, (dir / "bad.json").string()});
  CHECK(bad.status == 1);
  CHECK_THAT(bad.output, Catch::Contains("bad.json: probe.seeds: expected an integer"));
  // --set overrides reach the same checks, and say where the value came from.
  const std::string config = QKV_SOURCE_DIR "/configs/vanishing.json";
  Outcome bad_set = run({QKV_VANISHING_BINARY, config, "--set", "probe.seeds=many"});
  CHECK(bad_set.status == 1);
  CHECK_THAT(bad_set.output, Catch::Contains("configs/vanishing.json (with --set probe.seeds=many): probe.seeds: "
                                             "expected an integer"));
  Outcome through = run({QKV_VANISHING_BINARY, config, "--set", "out_dir.x=1"});
  CHECK(through.status == 1);
  CHECK_THAT(through.output, Catch::Contains("command line (--set out_dir.x=1): out_dir: expected an object"));
}

TEST_CASE("the vanishing program runs a small config end to end", "[experiments][programs]") {
  const fs::path dir = fs::path(QKV_BINARY_DIR) / "test-scratch" / "programs";
  fs::remove_all(dir / "run");
  fs::create_directories(dir);
  std::ofstream(dir / "small.json")
      << R"({"probe": {"d_k": [4, 256], "scorers": ["scaled_dot", "dot"], "seeds": 2}, "training": {"enabled": true}})";
  // --set as train takes it, at any depth: here it turns the training part off again.
  Outcome ok = run({QKV_VANISHING_BINARY, (dir / "small.json").string(), "--set", "training.enabled=false", "--out",
                   (dir / "run").string()});
  INFO(ok.output);
  CHECK(ok.status == 0);
  CHECK(fs::exists(dir / "run" / "probe.csv"));
  CHECK(fs::exists(dir / "run" / "report.md"));
  CHECK_THAT(ok.output, Catch::Contains("probe dot d_k=256"));

  // A full disk (a file-size limit of 1 KiB, as `ulimit -f` sets it): exit 1 and the file
  // named, not death by SIGXFSZ without a word.
  fs::remove_all(dir / "full");
  Outcome full = run({QKV_VANISHING_BINARY, (dir / "small.json").string(), "--set", "training.enabled=false", "--out",
                     (dir / "full").string()},
                     1 << 10);
  INFO(full.output);
  CHECK(full.status == 1);
  CHECK_THAT(full.output, Catch::Contains((dir / "full").string()) && Catch::Contains(std::strerror(EFBIG)));
}
