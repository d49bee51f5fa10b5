#include "layers/scorer_registry.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "layers/alibi.h"
#include "layers/learned_temperature_scorer.h"
#include "layers/qk_norm_scorer.h"
#include "layers/rope.h"
#include "layers/score_mod_scorer.h"

namespace qkv {
namespace {

struct Registry {
  std::mutex mutex;
  std::map<std::string, ScorerFactory> factories;
  std::map<std::string, std::vector<ScorerSetting>> settings;  // kinds that declare any
};

Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry;
    reg->factories["dot"] = [](const ScorerOptions&, Generator&) { return std::make_shared<DotScorer>(); };
    reg->factories["scaled_dot"] = [](const ScorerOptions& o, Generator&) {
      return std::make_shared<ScaledDotScorer>(o.scale);
    };
    reg->factories["general"] = [](const ScorerOptions& o, Generator& gen) {
      return std::make_shared<GeneralScorer>(GeneralScorerOptions{.heads = o.heads, .d_q = o.d_q, .d_k = o.d_k}, gen);
    };
    reg->factories["additive"] = [](const ScorerOptions& o, Generator& gen) {
      return std::make_shared<AdditiveScorer>(
          AdditiveScorerOptions{.heads = o.heads, .d_q = o.d_q, .d_k = o.d_k, .hidden = o.additive_hidden}, gen);
    };
    reg->factories["mup_dot"] = [](const ScorerOptions&, Generator&) {
      return std::make_shared<ScaledDotScorer>(ScoreScale::inverse_dk());
    };
    reg->factories["qk_norm"] = [](const ScorerOptions& o, Generator&) {
      return std::make_shared<QKNormScorer>(QKNormScorerOptions{
          .heads = o.heads, .d_k = o.d_k, .initial_scale = o.qk_norm_scale, .learn_scale = o.qk_norm_learned});
    };
    reg->factories["learned_temperature"] = [](const ScorerOptions& o, Generator&) {
      return std::make_shared<LearnedTemperatureScorer>(
          LearnedTemperatureScorerOptions{.heads = o.heads, .d_k = o.d_k, .initial = o.scale});
    };
    return reg;
  }();
  return *r;
}

std::string kinds_list() {
  std::string out;
  for (const std::string& k : scorer_kinds()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

}  // namespace

void register_scorer(const std::string& kind, ScorerFactory factory, std::vector<ScorerSetting> settings) {
  if (kind.empty() || !factory) throw std::invalid_argument("register_scorer: need a kind name and a factory");
  std::set<std::string> names;
  for (const ScorerSetting& s : settings)
    // "kind" names the scorer in a config's {"kind": ..., setting: ...} object.
    if (s.name.empty() || s.name == "kind" || !names.insert(s.name).second)
      throw std::invalid_argument("register_scorer(\"" + kind + "\"): setting name \"" + s.name +
                                  "\" is empty, \"kind\" or given twice");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.factories[kind] = std::move(factory);
  if (settings.empty()) r.settings.erase(kind);
  else r.settings[kind] = std::move(settings);
}

std::vector<ScorerSetting> scorer_settings(const std::string& kind) {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  auto it = r.settings.find(kind);
  return it == r.settings.end() ? std::vector<ScorerSetting>{} : it->second;
}

std::vector<std::string> scorer_kinds() {
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  std::vector<std::string> out;
  for (const auto& [kind, _] : r.factories) out.push_back(kind);
  return out;
}

std::shared_ptr<Scorer> make_scorer(const ScorerOptions& options, Generator& gen) {
  ScorerFactory factory;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    auto it = r.factories.find(options.kind);
    if (it != r.factories.end()) factory = it->second;
  }
  if (!factory)
    throw std::invalid_argument("unknown scorer kind '" + options.kind + "'; valid kinds: " + kinds_list());
  ScorerOptions filled = options;
  const std::vector<ScorerSetting> declared = scorer_settings(options.kind);
  if (!filled.settings.is_object())
    throw std::invalid_argument("scorer settings must be a JSON object, got " + filled.settings.dump());
  for (const auto& item : filled.settings.items()) {
    const std::string name = item.key();
    if (std::none_of(declared.begin(), declared.end(), [&](const ScorerSetting& s) { return s.name == name; }))
      throw std::invalid_argument("scorer kind '" + options.kind + "' has no setting '" + name + "'");
  }
  for (const ScorerSetting& s : declared)
    if (!filled.settings.contains(s.name)) filled.settings[s.name] = s.default_value;
  std::shared_ptr<Scorer> scorer = factory(filled, gen);
  if (options.relative_bias.kind != RelativeBiasKind::none) {
    auto bias = std::make_shared<RelativePositionBias>(options.relative_bias, options.heads, gen);
    scorer = std::make_shared<RelativeBiasScorer>(std::move(scorer), std::move(bias));
  }
  if (options.position == PositionKind::rope) scorer = std::make_shared<RotaryScorer>(std::move(scorer), options.rope_base);
  if (options.position == PositionKind::alibi) scorer = std::make_shared<AlibiScorer>(std::move(scorer), options.heads);
  if (options.softcap < 0) throw std::invalid_argument("scorer softcap must be >= 0 (0: none), got " + std::to_string(options.softcap));
  if (options.softcap > 0) scorer = std::make_shared<SoftcapScorer>(std::move(scorer), options.softcap);
  return scorer;
}

}  // namespace qkv
