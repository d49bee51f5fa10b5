// Attention scorers compared: the same small transformer trained with each scorer
// (additive, dot, general, scaled_dot, scaled_dot with a relative bias) on a few tasks;
// accuracy curves per task, a results table with ms per step and parameter counts, and
// report.md in the run folder.
//
//   scorers [CONFIG] [--out DIR]     (CONFIG defaults to configs/scorers.json)
#include <qkv.h>

#include <cstring>
#include <iostream>

#include "experiments/scorer_comparison.h"

int main(int argc, char** argv) {
  std::string config = "configs/scorers.json", out;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "usage: scorers [CONFIG] [--out DIR]\n"
                   "  CONFIG  experiment config (default configs/scorers.json; keys in docs/experiments.md)\n"
                   "  --out   run folder (default: the config's out_dir)\n";
      return 0;
    } else if (!std::strcmp(argv[i], "--out")) {
      if (i + 1 >= argc) {
        std::cerr << "scorers: --out needs a folder\n";
        return 1;
      }
      out = argv[++i];
    } else if (argv[i][0] == '-') {
      std::cerr << "scorers: unknown option " << argv[i] << " (see --help)\n";
      return 1;
    } else {
      config = argv[i];
    }
  }
  try {
    qkv::ScorerComparisonOptions options = qkv::load_scorer_comparison_options(config);
    if (!out.empty()) options.out_dir = out;
    std::cout << "scorers: " << config << " -> " << options.out_dir << " (" << qkv::num_threads() << " threads)\n";
    qkv::run_scorer_comparison(options, std::cout);
    std::cout << "report: " << options.out_dir << "/report.md\n";
  } catch (const std::exception& e) {
    std::cerr << "scorers: " << e.what() << "\n";
    return 1;
  }
}
