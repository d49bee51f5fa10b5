// Plots of run folders through gnuplot (train/plot.h): what a run writes at its end
// into <run_dir>/plots, and what the plot program draws for one run folder or overlays
// for several.
//   metrics.png  loss and accuracy (training batch as lines, held-out as points), learning
//                rate, gradient norm; one colour per run
//   probes.png   every run that has probes.jsonl: per layer and head attention entropy,
//                softmax Jacobian norm, dead-row fraction and max weight; per parameter
//                gradient norm and update/weight ratio; one colour per run when overlaid
// The data files and gnuplot scripts stay beside the PNGs, so a plot can be restyled.
#pragma once

#include <string>
#include <vector>

namespace qkv {

// Writes the plots of run_dirs into out_dir (created) and returns the PNGs made: none when
// gnuplot is missing. Throws std::runtime_error naming a folder without metrics.jsonl, and
// RunLogError naming a malformed row of a metrics.jsonl or probes.jsonl.
std::vector<std::string> plot_runs(const std::vector<std::string>& run_dirs, const std::string& out_dir);

}  // namespace qkv
