// A user's own program under mpirun: examples/custom_layer registers its scorer and hands
// its command line to run_train_cli, which makes it data parallel with no MPI code of its
// own. On 2 ranks it must train the curve it trains in one process.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "../train/train_test_util.h"
#include "run_on_ranks.h"

TEST_CASE("a user's program on run_train_cli trains data parallel on 2 ranks", "[dist][mpi]") {
  // MPI was found when this was configured: a missing launcher is a failure, not a skip.
  REQUIRE(std::filesystem::exists(QKV_MPIEXEC));
  const std::string dir = qkv_test::scratch_dir("user_program_ranks");
  const auto args = [&](const std::string& out) {
    return std::vector<std::string>{QKV_SOURCE_DIR "/examples/cosine.json", "--set", "train.steps=4", "--set",
                                    "train.batch_size=7", "--set", "task.eval_batches=1", "--set", "train.threads=1",
                                    "--set", "train.plots=false", "--out", dir + "/" + out};
  };
  REQUIRE(qkv_test::run_on_ranks(QKV_CUSTOM_LAYER_BINARY, 1, args("one"), dir + "/one.log") == 0);
  const int ranks_exit = qkv_test::run_on_ranks(QKV_CUSTOM_LAYER_BINARY, 2, args("two"), dir + "/two.log");
  INFO(qkv_test::slurp(dir + "/two.log"));
  REQUIRE(ranks_exit == 0);
  CHECK(qkv_test::slurp(dir + "/two.log").find("2 ranks, data parallel") != std::string::npos);
  const auto one = qkv_test::jsonl_rows(dir + "/one/metrics.jsonl"), two = qkv_test::jsonl_rows(dir + "/two/metrics.jsonl");
  REQUIRE(one.size() == 4);
  REQUIRE(two.size() == one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    const double a = one[i]["loss"], b = two[i]["loss"];
    CHECK(std::abs(a - b) <= 1e-4 * std::abs(a));
  }
}
