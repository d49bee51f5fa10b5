// Building a scorer from a kind name, so configs and AttentionOptions can name it: the
// built-in kinds are "additive", "dot", "general", "scaled_dot", and the scorers that keep
// the softmax alive without 1/sqrt(d_k): "mup_dot" (q^T k / d_k), "qk_norm" and
// "learned_temperature"; register_scorer() adds a user's own. make_scorer() wraps the
// result in a RelativeBiasScorer when options.relative_bias.kind is not none, and then in
// a RotaryScorer or AlibiScorer when options.position is rope or alibi, and last in a
// SoftcapScorer when options.softcap > 0, so relative bias, positions and the cap combine
// with every kind.
//
// A registered kind may declare settings (ScorerSetting): a run config then gives them as
// model.scorer = {"kind": "softcap_user", "cap": 5}, validated, listed by --list-keys and
// recorded with their defaults like built-in keys; the factory reads them from
// ScorerOptions::settings.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/generator.h"
#include "layers/positional.h"
#include "layers/relative_bias.h"
#include "layers/scorers.h"

namespace qkv {

struct ScorerOptions {
  std::string kind = "scaled_dot";
  // Filled in by MultiHeadAttention from its own options; set them when building alone.
  int64_t heads = 1;
  int64_t d_q = 0;
  int64_t d_k = 0;
  // scaled_dot: the factor; learned_temperature: the temperature it starts from.
  ScoreScale scale = ScoreScale::inverse_sqrt_dk();
  int64_t additive_hidden = 0;        // additive; 0 means d_k
  RelativeBiasOptions relative_bias = {};  // kind none: no bias
  Scalar qk_norm_scale = 0;           // qk_norm: g at the start; 0 means sqrt(d_k)
  bool qk_norm_learned = true;        // qk_norm: false keeps g fixed
  // rope rotates q and k, alibi adds a distance penalty; the absolute kinds act on the
  // input (PositionalEncoding) and leave the scorer as it is.
  PositionKind position = PositionKind::none;
  double rope_base = 10000;           // rope: theta_i = rope_base^(-2i/d)
  Scalar softcap = 0;                 // > 0: scores c tanh(s / c), outermost (SoftcapScorer)
  // The kind's declared settings by name; make_scorer fills in the defaults of those left out.
  nlohmann::json settings = nlohmann::json::object();
};

struct ScorerSetting {
  enum class Type { integer, number, boolean, string };
  std::string name;
  Type type = Type::number;
  nlohmann::json default_value;  // the value when a config leaves the setting out
  std::optional<double> min;     // inclusive bounds of an integer or number
  std::optional<double> max;
  std::string doc;               // one sentence for --list-keys
};

using ScorerFactory = std::function<std::shared_ptr<Scorer>(const ScorerOptions& options, Generator& gen)>;

// Adds (or replaces) a kind with the settings it takes; its factory receives the filled-in
// ScorerOptions. invalid_argument for a setting without a name, named twice or named "kind".
void register_scorer(const std::string& kind, ScorerFactory factory, std::vector<ScorerSetting> settings = {});
std::vector<std::string> scorer_kinds();  // sorted
// The settings `kind` declared (none for a built-in or an unknown kind).
std::vector<ScorerSetting> scorer_settings(const std::string& kind);
// invalid_argument listing the valid kinds when options.kind is unknown, or naming a
// setting options.settings holds that the kind does not declare.
std::shared_ptr<Scorer> make_scorer(const ScorerOptions& options, Generator& gen);

}  // namespace qkv
