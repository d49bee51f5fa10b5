// train --eval, like nanoGPT's sample.py: --set applies where it makes sense for an
// evaluation and is refused, naming the key, everywhere else; --input runs the trained model
// on the user's own tokens.
#include <catch2/catch.hpp>

#include <filesystem>
#include <sstream>

#include "qkv.h"
#include "../train/train_test_util.h"

using namespace qkv;
using json = nlohmann::json;

namespace {
// A trained reverse run of 7 positions over 10 token ids, in dir.
void train_tiny(const std::string& dir) {
  const json config = {{"model", {{"d_model", 16}, {"heads", 2}, {"layers", 2}}},
                       {"task", {{"name", "reverse"}, {"seq_len", 7}, {"vocab", 10}, {"eval_batches", 1}}},
                       {"train", {{"steps", 4}, {"batch_size", 8}, {"eval_interval", 0}, {"out_dir", dir},
                                  {"threads", 1}, {"plots", false}}}};
  std::ostringstream log;
  Trainer(resolve_config(config, "tiny.json"), {.log = &log, .progress_bar = false}).run();
}

std::string eval_error(const std::string& dir, const InspectOptions& options) {
  std::ostringstream out;
  try {
    inspect_run(dir, options, out);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("train --eval --set applies the evaluation's keys and refuses the others, naming them", "[tool][eval]") {
  const std::string dir = qkv_test::scratch_dir("eval_set");
  train_tiny(dir);
  std::ostringstream out;
  inspect_run(dir, {.examples = 0, .overrides = {"task.eval_batches=3", "task.eval_seed=99", "train.threads=1"}}, out);
  CHECK(out.str().find("(3 batches of 8;") != std::string::npos);

  CHECK(eval_error(dir, {.overrides = {"model.d_model=32"}}) ==
        "command line (--eval --set model.d_model=32): model.d_model: expected a key --eval applies (task.eval_seed, "
        "task.eval_batches, train.batch_size, train.threads), found a key of the trained model or of its training, "
        "which --eval keeps as trained");
  CHECK(eval_error(dir, {.overrides = {"task.eval_batchs=2"}})
            .find("found unknown key \"task.eval_batchs\" (did you mean \"task.eval_batches\"?)") != std::string::npos);
  CHECK(eval_error(dir, {.overrides = {"train.steps=9", "optimizer.lr=1"}}).find("2 problems") != std::string::npos);
  // An allowed key is still checked as the config checks it.
  CHECK(eval_error(dir, {.overrides = {"task.eval_batches=0"}}).find("task.eval_batches: expected an integer in [1, 100000]") !=
        std::string::npos);

  // The program exits 1 with the message, where it used to ignore the --set.
  const auto refused = qkv_test::run_program({QKV_TRAIN_BINARY, "--eval", dir, "--set", "model.heads=1"}, dir);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("model.heads: expected a key --eval applies") != std::string::npos);
}

TEST_CASE("train --eval --input prints the trained model's prediction for the user's tokens", "[tool][eval]") {
  const std::string dir = qkv_test::scratch_dir("eval_input");
  train_tiny(dir);
  std::ostringstream out;
  const Inspection seen = inspect_run(dir, {.out_dir = dir + "/maps", .input = "3 1 4 1"}, out);
  // The same forward pass, by hand.
  const RunConfig config = load_run_config(dir);
  const auto task = make_task(config.task);
  const auto model = load_trained_model(dir, config, *task);
  NoGradGuard no_grad;
  model->eval();
  CHECK(seen.predicted == argmax(model->forward(Indices::from({3, 1, 4, 1}, {1, 4})).logits).values);
  CHECK(out.str().rfind("input       3  1  4  1\npredicted  ", 0) == 0);
  CHECK(out.str().find("held-out") == std::string::npos);
  CHECK(seen.heatmaps.size() == (gnuplot_available() ? 2u : 0u));
  for (const std::string& png : seen.heatmaps) CHECK(std::filesystem::exists(png));

  CHECK(eval_error(dir, {.input = "3 x 4"}) ==
        "command line (--input \"3 x 4\"): --input: expected 1 to 7 token ids in [0, 10) separated by spaces, found \"x\"");
  CHECK(eval_error(dir, {.input = "3 10"}).find("found \"10\"") != std::string::npos);
  CHECK(eval_error(dir, {.input = "1 2 3 4 5 6 7 8"}).find("separated by spaces, found 8") != std::string::npos);

  const auto program = qkv_test::run_program({QKV_TRAIN_BINARY, "--eval", dir, "--input", "2 7 1"}, dir);
  CHECK(program.exit_code == 0);
  CHECK(program.out.rfind("input       2  7  1\npredicted  ", 0) == 0);
  CHECK(qkv_test::run_program({QKV_TRAIN_BINARY, dir + "/config.json", "--input", "2 7 1"}, dir).exit_code == 2);
}
