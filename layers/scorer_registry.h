// Building a scorer from a kind name, so configs and AttentionOptions can name it: the
// built-in kinds are "additive", "dot", "general" and "scaled_dot"; register_scorer() adds
// a user's own. make_scorer() wraps the result in a RelativeBiasScorer when
// options.relative_bias.kind is not "none", so relative bias combines with every kind.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/generator.h"
#include "layers/relative_bias.h"
#include "layers/scorers.h"

namespace qkv {

struct ScorerOptions {
  std::string kind = "scaled_dot";
  // Filled in by MultiHeadAttention from its own options; set them when building alone.
  int64_t heads = 1;
  int64_t d_q = 0;
  int64_t d_k = 0;
  ScoreScale scale = ScoreScale::inverse_sqrt_dk();  // scaled_dot
  int64_t additive_hidden = 0;                       // additive; 0 means d_k
  RelativeBiasOptions relative_bias;                 // kind "none": no bias
};

using ScorerFactory = std::function<std::shared_ptr<Scorer>(const ScorerOptions& options, Generator& gen)>;

// Adds (or replaces) a kind; its factory receives the filled-in ScorerOptions.
void register_scorer(const std::string& kind, ScorerFactory factory);
std::vector<std::string> scorer_kinds();  // sorted
// invalid_argument listing the valid kinds when options.kind is unknown.
std::shared_ptr<Scorer> make_scorer(const ScorerOptions& options, Generator& gen);

}  // namespace qkv
