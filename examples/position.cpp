// Position information: a small transformer trained on an order-dependent task with no
// positional encoding, sinusoidal, learned absolute and relative bias; accuracy curves,
// the order-blind ceiling, a permutation-equivariance check on the trained models,
// attention heatmaps and report.md in the run folder.
//
//   position [CONFIG] [--out DIR]     (CONFIG defaults to configs/position.json)
#include <qkv/qkv.h>

#include "experiments/position.h"
#include "experiment_cli.h"

int main(int argc, char** argv) {
  return run_experiment_program(argc, argv, "position", "Position information: none, sinusoidal, learned, relative bias, RoPE and ALiBi on an order-dependent task.", "configs/position.json",
                                qkv::load_position_options,
                                [](const auto& options, std::ostream& log) { qkv::run_position_experiment(options, log); });
}
