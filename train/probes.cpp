#include "train/probes.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "train/metrics.h"

namespace qkv {

ParameterSnapshot::ParameterSnapshot(const std::vector<Tensor>& parameters) {
  for (const Tensor& p : parameters) before_.push_back(p.clone());
}

std::vector<double> ParameterSnapshot::update_ratios(const std::vector<Tensor>& after) const {
  std::vector<double> ratios;
  for (size_t i = 0; i < before_.size(); ++i) {
    const Scalar* b = before_[i].data();
    const Scalar* a = after.at(i).data();
    double change = 0, size = 0;
    for (int64_t k = 0; k < before_[i].numel(); ++k) {
      const double d = static_cast<double>(a[k]) - b[k];
      change += d * d;
      size += static_cast<double>(b[k]) * b[k];
    }
    ratios.push_back(size > 0 ? std::sqrt(change / size) : 0.0);
  }
  return ratios;
}

std::vector<std::vector<SoftmaxStats>> attention_probes(const std::vector<Tensor>& attention_weights) {
  std::vector<std::vector<SoftmaxStats>> out;
  for (const Tensor& w : attention_weights) out.push_back(softmax_stats_per_head(w));
  return out;
}

std::vector<std::vector<SoftmaxStats>> attention_probes(const SequenceModelOutput& out) {
  if (out.attention_row_stats.empty()) return attention_probes(out.attention_weights);
  std::vector<std::vector<SoftmaxStats>> layers;
  for (size_t i = 0; i < out.attention_row_stats.size(); ++i)
    layers.push_back(out.attention_row_stats[i].defined() ? softmax_stats_per_head_from_rows(out.attention_row_stats[i])
                                                          : softmax_stats_per_head(out.attention_weights[i]));
  return layers;
}

ProbeLog::ProbeLog(const std::string& run_dir, std::vector<std::string> parameter_names,
                   std::optional<int64_t> resume_step)
    : parameter_names_(std::move(parameter_names)), path_(run_dir + "/probes.jsonl") {
  out_ = open_jsonl(path_, resume_step);
}

void ProbeLog::write(const ProbeRecord& r) {
  using ordered = nlohmann::ordered_json;
  ordered attention = ordered::array();
  for (const auto& layer : r.attention) {
    ordered heads = ordered::array();
    for (const SoftmaxStats& s : layer)
      heads.push_back({{"entropy", s.mean_entropy}, {"jacobian_norm", s.mean_jacobian_norm},
                       {"dead_fraction", s.dead_fraction}, {"max_weight", s.mean_max_weight},
                       {"max_logit", s.max_logit}});
    attention.push_back(heads);
  }
  ordered parameters = ordered::object();
  for (size_t i = 0; i < parameter_names_.size(); ++i)
    parameters[parameter_names_[i]] = {{"grad_norm", r.grad_norms.at(i)}, {"update_ratio", r.update_ratios.at(i)}};
  const ordered row = {{"step", r.step}, {"attention", attention}, {"parameters", parameters}};
  out_ << row.dump() << "\n";
  out_.flush();
  check_run_file(out_, path_, "the row of step " + std::to_string(r.step));
}

}  // namespace qkv
