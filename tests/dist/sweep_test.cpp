// Distributed sweeps: an experiment program under `mpirun -np 2` writes the tables a
// one-process run writes, byte for byte. Timing tables (and the report, which quotes
// them) vary from run to run anyway and are left out; plots are compared with the rest.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "../train/train_test_util.h"
#include "dist/sweep.h"
#include "run_on_ranks.h"

namespace fs = std::filesystem;

namespace {
std::set<std::string> file_names(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) names.insert(entry.path().filename().string());
  return names;
}

void require_same_tables(const std::string& program, const std::string& config_text, const std::string& name) {
  const std::string dir = qkv_test::scratch_dir("mpi_sweep_" + name);
  std::ofstream(dir + "/sweep.json") << config_text;
  REQUIRE(qkv_test::run_on_ranks(program, 1, {dir + "/sweep.json", "--out", dir + "/one"}, dir + "/one.log") == 0);
  REQUIRE(qkv_test::run_on_ranks(program, 2, {dir + "/sweep.json", "--out", dir + "/two"}, dir + "/two.log") == 0);
  INFO(qkv_test::slurp(dir + "/two.log"));
  const std::set<std::string> names = file_names(dir + "/one");
  REQUIRE(file_names(dir + "/two") == names);
  REQUIRE(names.count("report.md") == 1);
  int compared = 0;
  for (const std::string& file : names) {
    if (file.rfind("timing.", 0) == 0 || file == "report.md") continue;
    INFO(file);
    REQUIRE(qkv_test::slurp(dir + "/two/" + file) == qkv_test::slurp(dir + "/one/" + file));
    ++compared;
  }
  REQUIRE(compared > 5);
  fs::remove_all(dir);
}
}  // namespace

TEST_CASE("Sweep cells go to ranks by expected cost, the costliest first", "[mpi][sweep]") {
  // d_k = 1024 alone on one rank, the three small ones together on the other.
  REQUIRE(qkv::dist::assign_cells({4, 16, 64, 1024}, 2) == std::vector<int>{1, 1, 1, 0});
  REQUIRE(qkv::dist::assign_cells({1, 1, 1, 1}, 2) == std::vector<int>{0, 1, 0, 1});
  REQUIRE(qkv::dist::assign_cells({5, 3}, 1) == std::vector<int>{0, 0});
}

TEST_CASE("vanishing on 2 ranks writes the tables and plots of 1 process", "[mpi][sweep]") {
  require_same_tables(QKV_VANISHING_BINARY, R"({
    "probe": {"d_k": [4, 64], "scorers": ["scaled_dot", "dot"], "seeds": 2},
    "training": {"d_k": [4, 64, 256], "seeds": 1,
                 "run": {"model": {"d_model": 16, "layers": 1, "d_ff": 16},
                         "task": {"seq_len": 5, "vocab": 6, "eval_batches": 1},
                         "train": {"steps": 10, "batch_size": 4, "eval_interval": 5}}}})",
                      "vanishing");
}

TEST_CASE("position on 2 ranks writes the tables and plots of 1 process", "[mpi][sweep]") {
  // Its equivariance error is measured on rank 0, on the model read back from the run folder.
  require_same_tables(QKV_POSITION_BINARY, R"({
    "variants": ["none", "sinusoidal", "rope"], "seeds": 1,
    "run": {"model": {"d_model": 8, "heads": 2, "layers": 1, "d_ff": 8},
            "task": {"seq_len": 6, "vocab": 5, "shift": 1, "eval_batches": 1},
            "train": {"steps": 6, "batch_size": 4, "eval_interval": 3}},
    "equivariance": {"batches": 1}, "ceiling": {"samples": 500}})",
                      "position");
}
