// The vanishing-gradient probe at initialisation: for each scorer and key width d_k, the
// spread of the scores, how saturated the softmax is, how much gradient gets through it,
// and the gradients that reach W_Q and W_K, averaged over many seeds.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "experiments/table.h"

namespace qkv {

struct InitProbeOptions {
  std::vector<int64_t> d_ks{4, 16, 64, 256, 1024};
  // "scaled_dot" (q.k/sqrt(d_k)), "dot" (unscaled q.k), "general", "additive", or any other
  // name of comparison_scorer_choices() (probe_config.h): a registered kind too.
  std::vector<std::string> scorers{"scaled_dot", "dot", "general", "additive"};
  int64_t seq_len = 16;   // N: queries and keys per sample
  int64_t d_model = 64;   // width of the input X that W_Q, W_K, W_V project
  int64_t seeds = 50;     // samples averaged per setting
  uint64_t seed = 0;      // first seed; sample s uses seed + s
};

struct InitProbeRow {
  std::string scorer;
  int64_t d_k = 0;
  double score_std = 0;        // pooled over every score of every sample
  double theory_std = 0;       // sqrt(d_k) unscaled (dot, general at Xavier init), 1 scaled, 1/sqrt(d_k) mup_dot; NaN additive
  double mean_entropy = 0;     // nats
  double max_entropy = 0;      // ln(N)
  double mean_max_weight = 0;
  double saturated_fraction = 0;
  double mean_jacobian_norm = 0;  // ||diag(w) - w w^T||_F per row
  double dead_fraction = 0;       // rows with Jacobian norm < 1e-3
  double gain = 0;                // |dL/dscores| / |dL/dweights|
  double grad_wq_norm = 0;
  double grad_wk_norm = 0;
};

std::vector<InitProbeRow> run_init_probe(const InitProbeOptions& options);
Table init_probe_table(const std::vector<InitProbeRow>& rows);
// Writes <dir>/probe.csv/json and one probe_<scorer>.csv/json per scorer (the plots read
// those), and one log line per row.
void save_init_probe(const std::vector<InitProbeRow>& rows, const std::string& dir, std::ostream& log);
// Per scorer, its rows at the smallest and at the largest d_k: what the reports compare.
std::map<std::string, std::pair<const InitProbeRow*, const InitProbeRow*>> probe_extremes(
    const std::vector<InitProbeRow>& rows);

}  // namespace qkv
