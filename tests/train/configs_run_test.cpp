// Every ready config in configs/ trains: a short run of each (60 steps, pixels 400) must
// bring the training loss well below where it started.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
namespace fs = std::filesystem;

TEST_CASE("every config in configs/ lowers the loss in a short run", "[trainer][configs]") {
  const std::vector<fs::path> configs = qkv_test::run_config_paths();
  REQUIRE(configs.size() >= 12);  // example + 5 scorers + 6 tasks

  for (const fs::path& path : configs) {
    DYNAMIC_SECTION(path.filename().string()) {
      // Pixels starts near the loss of always answering "background" (its most frequent
      // class) and needs more steps to move well below it.
      const int64_t kSteps = path.stem() == "pixels" ? 400 : 60;
      const std::string dir = qkv_test::scratch_dir("config_" + path.stem().string());
      std::vector<std::string> sets = {"train.steps=" + std::to_string(kSteps), "train.out_dir=" + dir, "train.plots=false",
                                       "train.checkpoint_interval=0", "train.eval_interval=0",
                                       "task.eval_batches=1"};
      // Warm-up must fit in the short run.
      if (enum_name(load_config(path.string()).schedule.name).rfind("warmup", 0) == 0) sets.push_back("schedule.warmup_steps=5");
      const RunConfig config = load_config(path.string(), sets);
      std::ostringstream log;
      Trainer(config, {.log = &log, .progress_bar = false}).run();

      const auto rows = qkv_test::jsonl_rows(dir + "/metrics.jsonl");
      REQUIRE(int64_t(rows.size()) == kSteps);
      auto mean_loss = [&](size_t begin, size_t end) {
        double s = 0;
        for (size_t i = begin; i < end; ++i) s += rows[i]["loss"].get<double>();
        return s / double(end - begin);
      };
      const double start = mean_loss(0, 3), end = mean_loss(kSteps - 5, kSteps);
      INFO("mean loss of the first 3 steps " << start << ", of the last 5 " << end);
      CHECK(end < 0.8 * start);
      fs::remove_all(dir);
    }
  }
}
