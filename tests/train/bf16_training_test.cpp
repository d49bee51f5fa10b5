// train.precision = "bf16": a short run of configs/example.json lowers the training loss as
// the float32 run does, and ends near it.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "core/ops/gemm_dispatch.h"
#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;

TEST_CASE("a short training in bf16 lowers the loss like float32", "[trainer][bf16]") {
  const std::string config = std::string(QKV_SOURCE_DIR) + "/configs/example.json";
  constexpr int64_t kSteps = 60;
  auto end_and_start = [&](const std::string& precision) {
    const std::string dir = qkv_test::scratch_dir("bf16_training_" + precision);
    const RunConfig c = load_config(config, {"train.steps=" + std::to_string(kSteps), "train.out_dir=" + dir,
                                             "train.plots=false", "train.checkpoint_interval=0",
                                             "train.eval_interval=0", "task.eval_batches=1",
                                             "schedule.warmup_steps=5", "train.precision=" + precision});
    std::ostringstream log;
    Trainer(c, {.log = &log, .progress_bar = false}).run();
    if (precision == "bf16") CHECK_THAT(log.str(), Catch::Contains("precision: bf16 (bf16 products measured at "));
    const auto rows = qkv_test::jsonl_rows(dir + "/metrics.jsonl");
    REQUIRE(int64_t(rows.size()) == kSteps);
    double start = 0, end = 0;
    for (int64_t i = 0; i < 3; ++i) start += rows[i]["loss"].get<double>() / 3;
    for (int64_t i = kSteps - 5; i < kSteps; ++i) end += rows[i]["loss"].get<double>() / 5;
    std::filesystem::remove_all(dir);
    return std::pair{end, start};
  };
  // bf16 products whether or not they pay on this CPU (they run float32 where they do not:
  // core/ops/gemm_dispatch.h), so that the bf16 path is what is tested.
  kernels::set_bf16_pays(true);
  const auto [end32, start32] = end_and_start("float32");
  const auto [end16, start16] = end_and_start("bf16");
  kernels::set_bf16_pays(std::nullopt);
  INFO("float32: " << start32 << " -> " << end32 << "; bf16: " << start16 << " -> " << end16);
  CHECK(end16 < 0.8 * start16);
  CHECK(std::abs(end16 - end32) < 0.05 * end32);
  CHECK(end16 != end32);  // the products did run in bf16
}
