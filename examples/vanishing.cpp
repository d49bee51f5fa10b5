// qkv's headline experiment: without the 1/sqrt(d_k) scale, attention scores spread like
// sqrt(d_k), softmax saturates and the gradient through it vanishes. Probes untrained
// attention over a sweep of d_k and scorers, trains scaled against unscaled models, and
// writes tables, plots and report.md to the run folder.
//
//   vanishing [CONFIG] [--out DIR]     (CONFIG defaults to configs/vanishing.json)
#include <qkv.h>

#include <cstring>
#include <iostream>

#include "experiments/vanishing.h"

int main(int argc, char** argv) {
  std::string config = "configs/vanishing.json", out;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "usage: vanishing [CONFIG] [--out DIR]\n";
      return 0;
    } else if (!std::strcmp(argv[i], "--out") && i + 1 < argc) {
      out = argv[++i];
    } else {
      config = argv[i];
    }
  }
  try {
    qkv::VanishingOptions options = qkv::load_vanishing_options(config);
    if (!out.empty()) options.out_dir = out;
    std::cout << "vanishing: " << config << " -> " << options.out_dir << " (" << qkv::num_threads()
              << " threads)\n";
    qkv::run_vanishing_experiment(options, std::cout);
    std::cout << "report: " << options.out_dir << "/report.md\n";
  } catch (const std::exception& e) {
    std::cerr << "vanishing: " << e.what() << "\n";
    return 1;
  }
}
