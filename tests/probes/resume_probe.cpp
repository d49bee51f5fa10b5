// resume_probe: trains the tiny MLP in its own process, for the resume test.
//   resume_probe OPTIMIZER STEPS OUT [--resume IN] [--skip-generator] [--skip-optimizer]
// Builds the model, optimiser, schedule and generator, optionally restores them from the
// checkpoint IN (--skip-* leave a part fresh, the negative controls), trains STEPS steps and
// saves a checkpoint to OUT.
#include <cstdio>
#include <cstring>
#include <string>

#include "tiny_mlp.h"

using namespace qkv_test;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: resume_probe OPTIMIZER STEPS OUT [--resume IN] [--skip-generator] [--skip-optimizer]\n");
    return 2;
  }
  try {
    const std::string kind = argv[1];
    const int64_t steps = std::stoll(argv[2]);
    const std::string out = argv[3];
    std::string in;
    bool skip_generator = false, skip_optimizer = false;
    for (int i = 4; i < argc; ++i) {
      if (!std::strcmp(argv[i], "--resume") && i + 1 < argc) in = argv[++i];
      else if (!std::strcmp(argv[i], "--skip-generator")) skip_generator = true;
      else if (!std::strcmp(argv[i], "--skip-optimizer")) skip_optimizer = true;
      else throw std::invalid_argument(std::string("unknown argument ") + argv[i]);
    }

    TinyMLP model;
    Data data;
    Generator gen(7);
    auto opt = make_optimizer(kind, model);
    const WarmupSchedule schedule = make_schedule_for_tests();
    TrainingState state{.model = &model, .optimizer = opt.get(), .generator = &gen, .schedule = &schedule,
                        .step = 0, .config = {{"optimizer", kind}, {"seed", 7}}};
    if (!in.empty()) {
      TrainingState restore = state;
      if (skip_generator) restore.generator = nullptr;
      if (skip_optimizer) restore.optimizer = nullptr;
      load_checkpoint(in, restore);
      state.step = restore.step;
      state.config = restore.config;
    }
    train_steps(model, *opt, schedule, gen, data, state.step, steps);
    save_checkpoint(out, state);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "resume_probe: %s\n", e.what());
    return 1;
  }
}
