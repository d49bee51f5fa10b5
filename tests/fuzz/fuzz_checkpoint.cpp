// libFuzzer target: the checkpoint loader on arbitrary bytes, into the model, optimiser,
// generator and schedule of the run checkpoint_run.json describes (the seed corpus holds
// that run's checkpoint), after the metadata check the trainer's --resume runs first.
// Every input must end in a loaded state or a CheckpointError.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "io/checkpoint.h"
#include "train/build.h"

namespace {
struct Run {
  qkv::RunConfig config = qkv::load_config(QKV_SOURCE_DIR "/tests/fuzz/checkpoint_run.json");
  std::unique_ptr<qkv::Task> task = qkv::make_task(config.task);
  qkv::Generator gen{config.train.seed};
  std::shared_ptr<qkv::SequenceModel> model = qkv::build_model(config.model, *task, gen);
  std::unique_ptr<qkv::Optimizer> optimizer = qkv::build_optimizer(config.optimizer, *model);
  std::unique_ptr<qkv::Schedule> schedule = qkv::build_schedule(config.schedule, config.train.steps);
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Run run;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    qkv::decode_checkpoint_info(bytes, "fuzz input");
  } catch (const qkv::CheckpointError&) {
  }
  qkv::TrainingState state{.model = run.model.get(), .optimizer = run.optimizer.get(), .generator = &run.gen,
                           .schedule = run.schedule.get()};
  try {
    qkv::decode_checkpoint(bytes, "fuzz input", state);
  } catch (const qkv::CheckpointError&) {
  }
  return 0;
}
