#include "layers/alibi.h"

#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "core/ops.h"
#include "layers/score_mods.h"

namespace qkv {

std::vector<double> alibi_slopes(int64_t heads) {
  if (heads <= 0) throw std::invalid_argument("alibi_slopes: heads must be positive, got " + std::to_string(heads));
  int64_t power = 1;
  while (power * 2 <= heads) power *= 2;
  std::vector<double> slopes;
  // A power of two p: 2^(-8/p), 2^(-16/p), ..., 2^(-8).
  for (int64_t h = 1; h <= power; ++h) slopes.push_back(std::pow(2.0, -8.0 * static_cast<double>(h) / static_cast<double>(power)));
  // The rest: the odd-numbered slopes of 2 * power, which fall between those above.
  for (int64_t h = 1; static_cast<int64_t>(slopes.size()) < heads; h += 2)
    slopes.push_back(std::pow(2.0, -8.0 * static_cast<double>(h) / static_cast<double>(2 * power)));
  return slopes;
}

Tensor alibi_bias(int64_t heads, int64_t query_length, int64_t key_length) {
  const std::vector<double> slopes = alibi_slopes(heads);
  Tensor bias = Tensor::zeros(heads == 1 ? Shape{query_length, key_length} : Shape{heads, query_length, key_length});
  Scalar* b = bias.data();
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < query_length; ++i)
      for (int64_t j = 0; j < key_length; ++j)
        b[(h * query_length + i) * key_length + j] = static_cast<Scalar>(-slopes[h] * static_cast<double>(std::abs(i - j)));
  return bias;
}

AlibiScorer::AlibiScorer(std::shared_ptr<Scorer> base, int64_t heads)
    : base_(register_module("base", std::move(base))), heads_(heads) {
  if (heads <= 0) throw std::invalid_argument("AlibiScorer: heads must be positive, got " + std::to_string(heads));
  mod_ = std::make_shared<AlibiMod>(heads);
}

std::optional<FusedScoring> AlibiScorer::fused(int64_t d_k) const { return with_score_mod(base_->fused(d_k), mod_); }

Tensor AlibiScorer::scores(const Tensor& queries, const Tensor& keys) {
  const Tensor s = base_->scores(queries, keys);
  if (heads_ > 1 && (s.dim() < 3 || s.size(-3) != heads_))
    throw std::invalid_argument("AlibiScorer: slopes for " + std::to_string(heads_) +
                                " heads need scores [.., heads, Nq, Nk], got " + shape_str(s.shape()));
  const int64_t nq = s.size(-2), nk = s.size(-1);
  if (!bias_.defined() || bias_.size(-2) != nq || bias_.size(-1) != nk) bias_ = alibi_bias(heads_, nq, nk);
  return add(s, bias_);
}

}  // namespace qkv
