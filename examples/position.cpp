// Position information: a small transformer trained on an order-dependent task with no
// positional encoding, sinusoidal, learned absolute and relative bias; accuracy curves,
// the order-blind ceiling, a permutation-equivariance check on the trained models,
// attention heatmaps and report.md in the run folder.
//
//   position [CONFIG] [--out DIR]     (CONFIG defaults to configs/position.json)
#include <qkv.h>

#include <cstring>
#include <iostream>

#include "experiments/position.h"

int main(int argc, char** argv) {
  std::string config = "configs/position.json", out;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "usage: position [CONFIG] [--out DIR]\n"
                   "  CONFIG  experiment config (default configs/position.json; keys in docs/experiments.md)\n"
                   "  --out   run folder (default: the config's out_dir)\n";
      return 0;
    } else if (!std::strcmp(argv[i], "--out")) {
      if (i + 1 >= argc) {
        std::cerr << "position: --out needs a folder\n";
        return 1;
      }
      out = argv[++i];
    } else if (argv[i][0] == '-') {
      std::cerr << "position: unknown option " << argv[i] << " (see --help)\n";
      return 1;
    } else {
      config = argv[i];
    }
  }
  try {
    qkv::PositionOptions options = qkv::load_position_options(config);
    if (!out.empty()) options.out_dir = out;
    std::cout << "position: " << config << " -> " << options.out_dir << " (" << qkv::num_threads() << " threads)\n";
    qkv::run_position_experiment(options, std::cout);
    std::cout << "report: " << options.out_dir << "/report.md\n";
  } catch (const std::exception& e) {
    std::cerr << "position: " << e.what() << "\n";
    return 1;
  }
}
