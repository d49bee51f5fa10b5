#include "experiments/init_probe.h"

#include <cmath>
#include <limits>

#include "core/generator.h"
#include "core/ops.h"
#include "experiments/probe_config.h"
#include "train/softmax_stats.h"
#include "layers/scorer_registry.h"

namespace qkv {
namespace {
double norm(const Tensor& t) {
  double s = 0;
  for (int64_t i = 0; i < t.numel(); ++i) s += static_cast<double>(t.data()[i]) * t.data()[i];
  return std::sqrt(s);
}

ScorerOptions scorer_options(const std::string& name, int64_t d_k) {
  ScorerOptions o = comparison_scorer(name, /*relative_window=*/8);
  o.d_q = o.d_k = d_k;
  o.heads = 1;
  return o;
}

double theory_std(const std::string& scorer, int64_t d_k) {
  // qk_norm: g = sqrt(d_k) times a cosine of std 1/sqrt(d_k); learned_temperature starts as scaled_dot.
  if (scorer == "scaled_dot" || scorer == "qk_norm" || scorer == "learned_temperature") return 1;
  if (scorer == "mup_dot") return 1 / std::sqrt(static_cast<double>(d_k));
  // q.k of unit-variance components sums d_k products of variance 1; q^T W k with Xavier
  // W (variance 1/d_k per entry for a square W) sums d_k^2 terms of variance 1/d_k.
  if (scorer == "dot" || scorer == "general" || scorer == "learned_temperature_from_1") return std::sqrt(static_cast<double>(d_k));
  return std::numeric_limits<double>::quiet_NaN();
}
}  // namespace

std::vector<InitProbeRow> run_init_probe(const InitProbeOptions& options) {
  std::vector<InitProbeRow> rows;
  const int64_t n = options.seq_len, d_model = options.d_model;
  const Scalar w_std = Scalar(1) / std::sqrt(static_cast<Scalar>(d_model));
  for (const std::string& name : options.scorers) {
    for (int64_t d_k : options.d_ks) {
      InitProbeRow row;
      row.scorer = name;
      row.d_k = d_k;
      row.theory_std = theory_std(name, d_k);
      row.max_entropy = std::log(static_cast<double>(n));
      double score_sum = 0, score_sq = 0;
      int64_t score_count = 0;
      for (int64_t s = 0; s < options.seeds; ++s) {
        Generator gen(options.seed + static_cast<uint64_t>(s));
        // X has unit-variance entries and W ~ N(0, 1/d_model), so every component of
        // Q = X W_Q and K = X W_K has unit variance, as the seed's argument assumes.
        Tensor x = Tensor::randn({1, n, d_model}, gen);
        Tensor w_q = Tensor::randn({d_model, d_k}, gen, 0, w_std).requires_grad_();
        Tensor w_k = Tensor::randn({d_model, d_k}, gen, 0, w_std).requires_grad_();
        Tensor w_v = Tensor::randn({d_model, d_k}, gen, 0, w_std).requires_grad_();
        auto scorer = make_scorer(scorer_options(name, d_k), gen);
        Tensor scores = scorer->scores(matmul(x, w_q), matmul(x, w_k));
        scores.retain_grad();
        Tensor weights = softmax(scores);
        weights.retain_grad();
        Tensor out = matmul(weights, matmul(x, w_v));
        const Tensor probe = Tensor::randn(out.shape(), gen);
        sum(mul(out, probe)).backward();

        for (int64_t i = 0; i < scores.numel(); ++i) {
          score_sum += scores.data()[i];
          score_sq += static_cast<double>(scores.data()[i]) * scores.data()[i];
        }
        score_count += scores.numel();
        const SoftmaxStats st = softmax_stats(weights);
        row.mean_entropy += st.mean_entropy;
        row.mean_max_weight += st.mean_max_weight;
        row.saturated_fraction += st.saturated_fraction;
        row.mean_jacobian_norm += st.mean_jacobian_norm;
        row.dead_fraction += st.dead_fraction;
        row.gain += norm(scores.grad()) / std::max(norm(weights.grad()), 1e-30);
        row.grad_wq_norm += norm(w_q.grad());
        row.grad_wk_norm += norm(w_k.grad());
      }
      const double k = static_cast<double>(options.seeds);
      for (double* v : {&row.mean_entropy, &row.mean_max_weight, &row.saturated_fraction, &row.mean_jacobian_norm,
                        &row.dead_fraction, &row.gain, &row.grad_wq_norm, &row.grad_wk_norm})
        *v /= k;
      const double mean = score_sum / static_cast<double>(score_count);
      row.score_std = std::sqrt(std::max(0.0, score_sq / static_cast<double>(score_count) - mean * mean));
      rows.push_back(row);
    }
  }
  return rows;
}

void save_init_probe(const std::vector<InitProbeRow>& rows, const std::string& dir, std::ostream& log) {
  init_probe_table(rows).save(dir + "/probe");
  std::map<std::string, std::vector<InitProbeRow>> per_scorer;
  for (const auto& r : rows) per_scorer[r.scorer].push_back(r);
  for (const auto& [scorer, own] : per_scorer) init_probe_table(own).save(dir + "/probe_" + scorer);
  for (const auto& r : rows)
    log << "probe " << r.scorer << " d_k=" << r.d_k << ": score std " << r.score_std << ", jacobian "
        << r.mean_jacobian_norm << ", dead rows " << r.dead_fraction << "\n";
}

std::map<std::string, std::pair<const InitProbeRow*, const InitProbeRow*>> probe_extremes(
    const std::vector<InitProbeRow>& rows) {
  std::map<std::string, std::pair<const InitProbeRow*, const InitProbeRow*>> ends;
  for (const auto& r : rows) {
    auto& e = ends[r.scorer];
    if (!e.first || r.d_k < e.first->d_k) e.first = &r;
    if (!e.second || r.d_k > e.second->d_k) e.second = &r;
  }
  return ends;
}

Table init_probe_table(const std::vector<InitProbeRow>& rows) {
  Table t({"scorer", "d_k", "score_std", "theory_std", "entropy", "max_entropy", "max_weight", "saturated_rows",
           "jacobian_norm", "dead_rows", "softmax_gain", "grad_W_Q", "grad_W_K"});
  for (const auto& r : rows)
    t.add_row({r.scorer, r.d_k, r.score_std, r.theory_std, r.mean_entropy, r.max_entropy, r.mean_max_weight,
               r.saturated_fraction, r.mean_jacobian_norm, r.dead_fraction, r.gain, r.grad_wq_norm, r.grad_wk_norm});
  return t;
}

}  // namespace qkv
