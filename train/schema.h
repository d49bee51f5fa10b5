// The config schema: one table listing every key of a run config, its type, default,
// allowed values, when it applies and the RunConfig field it sets. Validation
// (train/config.cpp), the defaults of the resolved config, the typed RunConfig, --list-keys
// and the key table of docs/config_keys.md (rendered by
// config_schema_markdown) all read this table, so they cannot disagree.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "layers/scorer_registry.h"

namespace qkv {

struct RunConfig;

enum class KeyType {
  integer,
  number,            // integers are accepted too
  boolean,
  string,
  choice,            // a string from KeySpec::choices
  number_or_choice,  // a number in range, or a string from KeySpec::choices
};

// A key that only means something for some settings of a sibling key, e.g.
// model.additive_hidden applies only when model.scorer is "additive".
struct KeyCondition {
  std::string key;                  // sibling key in the same section
  std::vector<std::string> values;  // the settings under which the key applies
};

struct KeySpec {
  std::string section;
  std::string key;
  KeyType type = KeyType::integer;
  nlohmann::json default_value;  // null when the key is required or its default derived
  std::string derived_default;   // how the default follows from other keys, if it does
  bool required = false;
  std::vector<std::string> choices;
  // model.scorer: the kinds added with register_scorer() are valid too.
  bool registered_scorers = false;
  std::optional<double> min;  // inclusive unless min_exclusive
  bool min_exclusive = false;
  std::optional<double> max;  // inclusive unless max_exclusive
  bool max_exclusive = false;
  std::optional<KeyCondition> only_when;
  std::string doc;
  // Writes the key's resolved value into its RunConfig field: the one place, beside this
  // row, where a key meets the typed config (resolve_config calls it for every key).
  std::function<void(RunConfig&, const nlohmann::json&)> assign;

  std::string path() const { return section + "." + key; }
  // choices, plus the registered scorer kinds when registered_scorers is set.
  std::vector<std::string> allowed_choices() const;
  // What a valid value looks like, e.g. `a number in [0, 1)`, `one of "relu", "gelu"`.
  std::string expected() const;
  // The default as the docs show it: the JSON value, the derivation, or "required".
  std::string default_text() const;
};

const std::vector<std::string>& config_sections();  // model, task, optimizer, schedule, train, probes
const std::vector<KeySpec>& config_schema();
const KeySpec* find_key_spec(const std::string& section, const std::string& key);

// A registered scorer kind's setting as a key: path model.scorer.NAME, applying only when
// model.scorer is `kind`, so that it is checked and listed exactly like a built-in key.
KeySpec scorer_setting_spec(const std::string& kind, const ScorerSetting& setting);

// The schema as markdown: one table per section. docs/config_keys.md holds exactly this between
// the markers <!-- config-keys:begin --> and <!-- config-keys:end -->.
std::string config_schema_markdown();

// The schema as plain text for a terminal (--list-keys): one line per key with its type,
// default and range, then its meaning; the settings of the scorer kinds this program
// registered follow model.scorer.
std::string config_schema_text();

}  // namespace qkv
