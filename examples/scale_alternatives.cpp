// What else keeps the softmax alive: unscaled q.k, q.k/sqrt(d_k), q.k/d_k, QK-norm and a
// learned temperature, probed at initialisation and trained over d_k; tables, plots,
// heatmaps and report.md in the run folder.
//
//   scale_alternatives [CONFIG] [--out DIR]     (CONFIG defaults to configs/scale_alternatives.json)
#include <qkv/qkv.h>

#include "experiments/scale_alternatives.h"
#include "experiment_cli.h"

int main(int argc, char** argv) {
  return run_experiment_program(argc, argv, "scale_alternatives",
                                "Alternatives to 1/sqrt(d_k): which keep the softmax's gradient alive, which learn.",
                                "configs/scale_alternatives.json", qkv::load_scale_alternatives_options,
                                [](const auto& options, std::ostream& log) { qkv::run_scale_alternatives(options, log); });
}
