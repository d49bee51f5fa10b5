#include "layers/scorer.h"

#include <stdexcept>
#include <string>

#include "core/ops.h"

namespace qkv {

std::optional<FusedScoring> Scorer::fused(int64_t) const { return std::nullopt; }

std::optional<FusedScoring> with_score_mod(std::optional<FusedScoring> base, std::shared_ptr<const ScoreMod> mod) {
  if (base && mod) base->score_mods.push_back(std::move(mod));
  return base;
}

Tensor per_head_parameter(const Tensor& parameter, const Tensor& input, const char* who) {
  const int64_t heads = parameter.size(0);
  Shape rest(parameter.shape().begin() + 1, parameter.shape().end());
  if (heads == 1) return reshape(parameter, rest);
  if (input.dim() < 3 || input.size(-3) != heads)
    throw std::invalid_argument(std::string(who) + ": has parameters for " + std::to_string(heads) +
                                " heads, so its inputs must be [.., heads, N, d] with heads at axis -3; got " +
                                shape_str(input.shape()));
  return parameter;
}

}  // namespace qkv
