#include "train/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "io/json_text.h"
#include "io/regular_file.h"
#include "train/build.h"
#include "train/schema.h"

namespace qkv {
namespace {
using json = nlohmann::json;

std::string join_lines(const std::vector<std::string>& problems) {
  if (problems.size() == 1) return problems[0];
  std::string out = std::to_string(problems.size()) + " problems in the config:";
  for (const std::string& p : problems) out += "\n  " + p;
  return out;
}

// A value as a message shows it; the JSON kind is added where the text alone would not
// say it ("0.1" is a string, not a number).
std::string describe(const json& v) {
  std::string text = v.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  switch (v.type()) {
    case json::value_t::string: return text + " (a string)";
    case json::value_t::array: return text + " (an array)";
    case json::value_t::object: return text + " (an object)";
    case json::value_t::null: return "null";
    default: return text;
  }
}

std::vector<std::string> keys_of(const std::string& section) {
  std::vector<std::string> keys;
  for (const KeySpec& spec : config_schema())
    if (spec.section == section) keys.push_back(spec.key);
  return keys;
}

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

bool is_integral(const json& v) {
  if (v.is_number_unsigned())
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  const double d = v.get<double>();
  return std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9.0e15;
}

bool in_range(const KeySpec& spec, double x) {
  if (!std::isfinite(x)) return false;
  if (spec.min && (spec.min_exclusive ? x <= *spec.min : x < *spec.min)) return false;
  if (spec.max && (spec.max_exclusive ? x >= *spec.max : x > *spec.max)) return false;
  return true;
}

// Where each value came from: the file, unless a --set replaced it.
struct Sources {
  std::string file;
  std::map<std::string, std::string> overridden;  // path or section -> its --set source
  const std::string& of(const std::string& path) const { return of(path, file); }
  // The source of path, or `otherwise` when no --set gave it (a scorer setting falls back
  // to where model.scorer came from).
  const std::string& of(const std::string& path, const std::string& otherwise) const {
    auto it = overridden.find(path);
    return it == overridden.end() ? otherwise : it->second;
  }
};

class Resolver {
 public:
  Resolver(json config, std::string source) : config_(std::move(config)) {
    sources_.file = std::move(source);
  }

  RunConfig run(const std::vector<std::string>& overrides) {
    if (!config_.is_object()) {
      add(sources_.file, "(top level)",
          "an object with sections " + list(config_sections()), describe(config_));
      throw ConfigError(problems_);
    }
    for (const std::string& o : overrides) apply_override(o);
    check_sections();
    split_scorer_object();
    for (const KeySpec& spec : config_schema()) check_key(spec);
    for (const KeySpec& spec : config_schema()) resolve_key(spec);
    resolve_scorer_settings();
    derive_defaults();
    check_task();
    check_relations();
    if (!problems_.empty()) throw ConfigError(problems_);
    RunConfig config = typed();
    check_memory(config);
    if (!problems_.empty()) throw ConfigError(problems_);
    return config;
  }

 private:
  json config_;
  Sources sources_;
  std::vector<std::string> problems_;
  std::set<std::string> invalid_;  // paths whose given value failed its own check
  json resolved_ = json::object();
  json scorer_given_ = json::object();     // the settings of an object model.scorer, as given
  json scorer_settings_ = json::object();  // every setting of the kind, defaults filled in

  void add(const std::string& source, const std::string& path, const std::string& expected,
           const std::string& found) {
    problems_.push_back(source + ": " + path + ": expected " + expected + ", found " + found);
  }
  void add(const std::string& path, const std::string& expected, const std::string& found) {
    add(sources_.of(path), path, expected, found);
  }

  void apply_override(const std::string& argument) {
    // A message quotes the argument, which may be long (a pasted document) or not text.
    std::string shown = printable(argument);
    if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
    const std::string source = "command line (--set " + shown + ")";
    // The value becomes JSON, which holds UTF-8 text only: reject other bytes now rather
    // than fail when the resolved config is written.
    if (const std::optional<size_t> bad = invalid_utf8_offset(argument)) {
      add(source, "--set", "UTF-8 text", "byte " + printable(argument.substr(*bad, 1)) + " at offset " +
                                             std::to_string(*bad) + ", which is not UTF-8");
      return;
    }
    const size_t eq = argument.find('=');
    if (eq == std::string::npos) {
      add(source, "--set", "section.key=value", "\"" + argument + "\" (no '=')");
      return;
    }
    const std::string path = argument.substr(0, eq), text = argument.substr(eq + 1);
    // A registered scorer's setting is one level deeper: model.scorer.NAME.
    const bool scorer_setting = path.rfind("model.scorer.", 0) == 0 && path.size() > 13 &&
                                path.find('.', 13) == std::string::npos;
    const size_t dot = path.find('.');
    if (!scorer_setting && (dot == std::string::npos || dot == 0 || dot + 1 == path.size() ||
                            path.find('.', dot + 1) != std::string::npos)) {
      add(source, "--set", "a key path section.key (e.g. optimizer.lr)", "\"" + path + "\"");
      return;
    }
    const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
    json value;
    try {
      value = parse_json_text(text);
    } catch (const JsonTextError& e) {
      if (e.kind() == JsonTextError::Kind::too_deep) {
        add(source, path, "a value nested at most " + std::to_string(kMaxJsonDepth) + " levels deep",
            "one that " + std::string(e.what()));
        return;
      }
      value = text;  // not JSON: a bare word such as additive
    }
    if (config_.contains(section) && !config_[section].is_object()) {
      add(source, section, "an object to set " + key + " in", describe(config_[section]));
      return;
    }
    if (!config_.contains(section)) sources_.overridden[section] = source;
    if (scorer_setting) {
      // model.scorer becomes {"kind": K, ...} if it was a bare kind; validation then checks
      // the setting against what K declared, as it would in the file.
      json& scorer = config_[section]["scorer"];
      if (scorer.is_string()) scorer = json{{"kind", scorer}};
      else if (scorer.is_null()) scorer = json{{"kind", find_key_spec("model", "scorer")->default_value}};
      if (!scorer.is_object()) {
        add(source, "model.scorer", "a kind or an object to set " + path.substr(13) + " in", describe(scorer));
        return;
      }
      scorer[path.substr(13)] = std::move(value);
    } else {
      config_[section][key] = std::move(value);
    }
    sources_.overridden[path] = source;
  }

  void check_sections() {
    for (const auto& [name, value] : config_.items()) {
      const auto& sections = config_sections();
      if (std::find(sections.begin(), sections.end(), name) == sections.end()) {
        const std::string guess = closest(name, sections);
        add(name, "a section (" + list(sections) + ")",
            "unknown section \"" + name + "\"" +
                (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)"));
      } else if (!value.is_object()) {
        add(name, "an object of " + name + " keys", describe(value));
        invalid_.insert(name);
      }
    }
    for (const std::string& section : config_sections()) {
      if (!config_.contains(section) || !config_[section].is_object()) continue;
      for (const auto& [key, value] : config_[section].items()) {
        if (find_key_spec(section, key)) continue;
        std::string guess = closest(key, keys_of(section));
        if (guess.empty())  // the right key in the wrong section, e.g. model.lr
          for (const std::string& other : config_sections())
            if (other != section && find_key_spec(other, key)) guess = other + "." + key;
        add(section + "." + key, "a key of " + section + " (" + list(keys_of(section)) + ")",
            "unknown key \"" + key + "\"" +
                (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)"));
      }
    }
  }

  const json* given(const KeySpec& spec) const {
    if (!config_.contains(spec.section) || !config_[spec.section].is_object()) return nullptr;
    const json& section = config_[spec.section];
    return section.contains(spec.key) ? &section[spec.key] : nullptr;
  }

  bool valid_value(const KeySpec& spec, const json& v) const {
    const auto is_choice = [&] {
      const std::vector<std::string> choices = spec.allowed_choices();
      return v.is_string() && std::find(choices.begin(), choices.end(), v.get<std::string>()) != choices.end();
    };
    switch (spec.type) {
      case KeyType::integer: return is_integral(v) && in_range(spec, v.get<double>());
      case KeyType::number: return v.is_number() && in_range(spec, v.get<double>());
      case KeyType::boolean: return v.is_boolean();
      case KeyType::string: return v.is_string() && !v.get<std::string>().empty();
      case KeyType::choice: return is_choice();
      case KeyType::number_or_choice:
        return is_choice() || (v.is_number() && in_range(spec, v.get<double>()));
    }
    return false;
  }

  void check_key(const KeySpec& spec) {
    if (config_.contains(spec.section) && !config_[spec.section].is_object()) return;
    if (invalid_.count(spec.path())) return;  // reported already (model.scorer's object form)
    const json* v = given(spec);
    if (!v) {
      if (spec.required) add(sources_.file, spec.path(), spec.expected() + " (a required key)", "nothing");
      return;
    }
    if (!valid_value(spec, *v)) {
      std::string found = describe(*v);
      if (v->is_string() && !spec.allowed_choices().empty()) {
        const std::string guess = closest(v->get<std::string>(), spec.allowed_choices());
        if (!guess.empty()) found += " (did you mean \"" + guess + "\"?)";
      }
      add(spec.path(), spec.expected(), found);
      invalid_.insert(spec.path());
      return;
    }
    // A key for another scorer, optimizer, schedule or task is a mistake, not a no-op.
    if (!spec.only_when) return;
    const KeySpec* selector = find_key_spec(spec.section, spec.only_when->key);
    const json selected = selector_value(*selector);
    if (!selected.is_string()) return;  // the selector is itself missing or wrong
    const auto& values = spec.only_when->values;
    if (std::find(values.begin(), values.end(), selected.get<std::string>()) == values.end()) {
      std::string allowed;
      for (const std::string& s : values) allowed += (allowed.empty() ? "\"" : " or \"") + s + "\"";
      add(spec.path(), "only with " + selector->path() + " " + allowed,
          "it with " + selector->path() + " \"" + selected.get<std::string>() + "\"");
      invalid_.insert(spec.path());
    }
  }

  // The selector's value (given or default), or null when it is missing or invalid.
  json selector_value(const KeySpec& selector) const {
    const json* v = given(selector);
    if (!v) return selector.default_value;
    return valid_value(selector, *v) ? *v : json();
  }

  bool applies(const KeySpec& spec) const {
    if (!spec.only_when) return true;
    const json selected = selector_value(*find_key_spec(spec.section, spec.only_when->key));
    if (!selected.is_string()) return false;
    const auto& values = spec.only_when->values;
    return std::find(values.begin(), values.end(), selected.get<std::string>()) != values.end();
  }

  void resolve_key(const KeySpec& spec) {
    json& section = resolved_[spec.section];
    if (section.is_null()) section = json::object();
    if (invalid_.count(spec.section) || invalid_.count(spec.path()) || !applies(spec)) return;
    if (const json* v = given(spec)) {
      // 1e4 from the command line is a valid integer: store it as one.
      section[spec.key] = spec.type == KeyType::integer ? json(v->get<int64_t>()) : *v;
    } else if (!spec.default_value.is_null()) {
      section[spec.key] = spec.default_value;
    }
  }

  bool has(const std::string& section, const std::string& key) const {
    return resolved_.contains(section) && resolved_[section].contains(key);
  }
  const json& at(const std::string& section, const std::string& key) const {
    return resolved_[section][key];
  }

  void derive_defaults() {
    json& model = resolved_["model"];
    if (!has("model", "d_head") && !invalid_.count("model.d_head") && has("model", "d_model") &&
        has("model", "heads")) {
      const int64_t d_model = at("model", "d_model"), heads = at("model", "heads");
      if (d_model % heads != 0)
        add("model.heads",
            "a divisor of model.d_model (" + std::to_string(d_model) +
                ") when model.d_head is not given",
            std::to_string(heads));
      else
        model["d_head"] = d_model / heads;
    }
    if (applies(*find_key_spec("model", "additive_hidden")) && !has("model", "additive_hidden") &&
        !invalid_.count("model.additive_hidden") && has("model", "d_head"))
      model["additive_hidden"] = at("model", "d_head");
    if (!has("model", "kv_heads") && !invalid_.count("model.kv_heads") && has("model", "heads"))
      model["kv_heads"] = at("model", "heads");
    if (has("model", "kv_heads") && has("model", "heads") && !invalid_.count("model.kv_heads") &&
        at("model", "heads").get<int64_t>() % at("model", "kv_heads").get<int64_t>() != 0)
      add("model.kv_heads", "a divisor of model.heads (" + at("model", "heads").dump() + ")",
          at("model", "kv_heads").dump());
    if (has("model", "sink") && has("model", "normalizer") && at("model", "sink") == true &&
        at("model", "normalizer") == "sigmoid")
      add("model.sink", "false with model.normalizer \"sigmoid\" (a sink is a softmax logit)", "true");
    // The probes measure softmax weights (entropy, the softmax's Jacobian); the fused kernel
    // refuses them for sigmoid weights, which a run would learn only at its first probe step.
    if (has("probes", "interval") && has("model", "normalizer") && at("probes", "interval").is_number_integer() &&
        at("probes", "interval").get<int64_t>() > 0 && at("model", "normalizer") == "sigmoid")
      add("probes.interval",
          "0 with model.normalizer \"sigmoid\" (the probes measure softmax weights: entropy, the softmax's Jacobian)",
          at("probes", "interval").dump());
    if (!has("model", "d_ff") && !invalid_.count("model.d_ff") && has("model", "d_model"))
      model["d_ff"] = 4 * at("model", "d_model").get<int64_t>();
    if (applies(*find_key_spec("schedule", "gamma")) && !has("schedule", "gamma") &&
        !invalid_.count("schedule.gamma"))
      resolved_["schedule"]["gamma"] = at("schedule", "name") == "step" ? 0.1 : 0.999;
  }

  // model.scorer = {"kind": K, setting: value, ...}: the kind is checked as the string form
  // is (check_key) and the settings once the kind is known (resolve_scorer_settings).
  void split_scorer_object() {
    if (!config_.contains("model") || !config_["model"].is_object() || !config_["model"].contains("scorer")) return;
    json& scorer = config_["model"]["scorer"];
    if (!scorer.is_object()) return;
    const KeySpec& spec = *find_key_spec("model", "scorer");
    if (!scorer.contains("kind")) {
      add(sources_.of(spec.path()), spec.path() + ".kind",
          spec.expected() + " (the object form of model.scorer names its kind)", "nothing");
      invalid_.insert(spec.path());
      return;
    }
    json object = std::move(scorer);
    scorer = object["kind"];
    object.erase("kind");
    scorer_given_ = std::move(object);
  }

  void resolve_scorer_settings() {
    if (!has("model", "scorer")) return;  // missing or invalid kind: reported already
    const std::string kind = at("model", "scorer");
    const std::vector<ScorerSetting> settings = scorer_settings(kind);
    const std::string& source = sources_.of("model.scorer");
    std::vector<std::string> names;
    for (const ScorerSetting& s : settings) names.push_back(s.name);
    for (const auto& [name, value] : scorer_given_.items()) {
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      const std::string guess = closest(name, names);
      add(sources_.of("model.scorer." + name, source), "model.scorer." + name,
          names.empty() ? "no settings (scorer \"" + kind + "\" takes none; give model.scorer as \"" + kind + "\")"
                        : "a setting of scorer \"" + kind + "\" (" + list(names) + ")",
          "unknown setting \"" + name + "\"" + (guess.empty() ? "" : " (did you mean \"" + guess + "\"?)"));
    }
    for (const ScorerSetting& setting : settings) {
      const KeySpec spec = scorer_setting_spec(kind, setting);
      const bool given = scorer_given_.contains(setting.name);
      const json& value = given ? scorer_given_[setting.name] : setting.default_value;
      if (!valid_value(spec, value)) {
        add(sources_.of(spec.path(), source), spec.path(), spec.expected(),
            describe(value) + (given ? "" : " (the default register_scorer(\"" + kind + "\") declares)"));
        continue;
      }
      // 1e4 from the command line is a valid integer: store it as one.
      scorer_settings_[setting.name] = spec.type == KeyType::integer ? json(value.get<int64_t>()) : value;
    }
    // A kind with settings is recorded as an object, so that --resume rebuilds the same scorer.
    if (!settings.empty()) {
      json object = {{"kind", kind}};
      object.update(scorer_settings_);
      resolved_["model"]["scorer"] = std::move(object);
    }
  }

  // The task checks its own options (seq_len too short for the pairs, shift >= seq_len,
  // ...); its answer is reported under the key's path, and its seq_len default recorded.
  void check_task() {
    if (!has("task", "name")) return;
    json options = json::object();
    for (const char* key : {"seq_len", "vocab", "shift", "pairs", "image_size", "shapes"}) {
      if (invalid_.count(std::string("task.") + key)) return;
      if (has("task", key)) options[key] = at("task", key);
    }
    try {
      resolved_["task"]["seq_len"] = make_task(at("task", "name"), options)->seq_len();
    } catch (const TaskOptionError& e) {
      add("task." + e.option(), e.expected(), e.found());
    }
  }

  void check_relations() {
    if (has("task", "eval_seed") && has("train", "seed") &&
        at("task", "eval_seed") == at("train", "seed"))
      add("task.eval_seed",
          "a seed other than train.seed (" + at("train", "seed").dump() +
              "), or held-out batches would repeat training batches",
          at("task", "eval_seed").dump());
    if (has("schedule", "warmup_steps") && has("train", "steps") &&
        at("schedule", "warmup_steps") > at("train", "steps"))
      add("schedule.warmup_steps", "at most train.steps (" + at("train", "steps").dump() + ")",
          at("schedule", "warmup_steps").dump());
    if (has("schedule", "min_lr") && has("optimizer", "lr") &&
        at("schedule", "min_lr").get<double>() > at("optimizer", "lr").get<double>())
      add("schedule.min_lr", "at most optimizer.lr (" + at("optimizer", "lr").dump() + ")",
          at("schedule", "min_lr").dump());
    if (has("optimizer", "nesterov") && at("optimizer", "nesterov").get<bool>() &&
        has("optimizer", "momentum") && has("optimizer", "dampening") &&
        (at("optimizer", "momentum").get<double>() <= 0 ||
         at("optimizer", "dampening").get<double>() != 0))
      add("optimizer.nesterov", "optimizer.momentum > 0 and optimizer.dampening 0 with nesterov",
          "momentum " + at("optimizer", "momentum").dump() + " and dampening " +
              at("optimizer", "dampening").dump());
    if (has("model", "relative_buckets") && has("model", "relative_max_distance") &&
        at("model", "relative_max_distance").get<int64_t>() <=
            at("model", "relative_buckets").get<int64_t>() / 2)
      add("model.relative_max_distance",
          "more than relative_buckets / 2 (" +
              std::to_string(at("model", "relative_buckets").get<int64_t>() / 2) +
              "), where T5's log-spaced buckets begin",
          at("model", "relative_max_distance").dump());
  }

  // A run whose sizes are each in range can still need more memory than the machine has;
  // refuse it before anything is allocated, naming the key that matters most.
  void check_memory(const RunConfig& config) {
    const TaskSizes task = TaskSizes::of(*make_task(config.task));
    const MemoryEstimate need = estimate_memory(config, task);
    const double have = machine_memory_bytes();
    if (need.total() <= have) return;
    const std::string key = largest_memory_key(config, task);
    add(key, "sizes for which the run fits in this machine's " + gib(have) + " of memory",
        resolved_value(key).dump() + ", for which it needs about " + gib(need.total()) + " (parameters with their " +
            "gradients and optimizer state " + gib(need.parameters) + ", activations of a training step " +
            gib(need.activations) + ", held-out batches " + gib(need.held_out) + ")");
  }

  json resolved_value(const std::string& path) const {
    const size_t dot = path.find('.');
    const std::string section = path.substr(0, dot), key = path.substr(dot + 1);
    return has(section, key) ? at(section, key) : json();
  }

  static std::string gib(double bytes) {
    std::ostringstream s;
    s.precision(bytes < 1e11 ? 3 : 0);
    s << std::fixed << bytes / (1024.0 * 1024 * 1024) << " GiB";
    return s.str();
  }

  // Reads a resolved key, or the schema default when the key does not apply.
  template <class T>
  T get(const std::string& section, const std::string& key) const {
    if (has(section, key)) return at(section, key).get<T>();
    const json& fallback = find_key_spec(section, key)->default_value;
    return fallback.is_null() ? T{} : fallback.get<T>();
  }

  // The typed config: every key through its schema row's assign, from the resolved value
  // or, where the key does not apply, the schema's default. Keys whose default derives from
  // others (model.d_head) go first, as a key may read them (model.scale's "sqrt_dk").
  RunConfig typed() const {
    RunConfig c;
    for (const bool derived : {true, false})
      for (const KeySpec& spec : config_schema()) {
        if (spec.derived_default.empty() == derived) continue;
        if (has(spec.section, spec.key)) spec.assign(c, at(spec.section, spec.key));
        else if (!spec.default_value.is_null()) spec.assign(c, spec.default_value);
      }
    c.model.scorer_settings = scorer_settings_;
    c.task.options = json::object();
    for (const char* key : {"seq_len", "vocab", "shift", "pairs", "image_size", "shapes"})
      if (has("task", key)) c.task.options[key] = at("task", key);

    c.resolved = resolved_;
    return c;
  }
};
}  // namespace

ConfigError::ConfigError(std::vector<std::string> problems)
    : std::runtime_error(join_lines(problems)), problems_(std::move(problems)) {}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(word, c);
    if (d < best_distance) best_distance = d, best = c;
  }
  return best;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

TextPosition text_position(const std::string& text, size_t offset) {
  TextPosition p;
  for (size_t i = 0; i < std::min(offset, text.size()); ++i) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
    } else {
      ++p.column;
    }
  }
  return p;
}

RunConfig resolve_config(const json& config, const std::string& source,
                         const std::vector<std::string>& overrides) {
  return Resolver(config, source).run(overrides);
}

RunConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides) {
  json config;
  try {
    config = parse_json_text(text);
  } catch (const JsonTextError& e) {
    if (e.kind() == JsonTextError::Kind::too_deep)
      throw ConfigError({source + ": malformed JSON: it " + e.what() + " (a run config nests 2)"});
    // e.byte() counts the bytes read, the offending one included.
    const TextPosition at = text_position(text, e.byte() == 0 ? 0 : e.byte() - 1);
    throw ConfigError({source + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                       ": malformed JSON at line " + std::to_string(at.line) + ", column " +
                       std::to_string(at.column) + ": " + e.what()});
  }
  return resolve_config(config, source, overrides);
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  // A folder opens as a stream and reads as empty, which would pass for malformed JSON.
  if (std::filesystem::is_directory(path)) throw ConfigError({path + ": is a folder, not a config file"});
  std::string text;
  try {
    text = read_regular_file(path);
  } catch (const FileReadError& e) {
    throw ConfigError({path + ": cannot open the config file (" + e.what() + ")"});
  }
  return parse_config(text, path, overrides);
}

std::vector<std::string> set_arguments(int argc, const char* const* argv) {
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--set=", 0) == 0) {
      sets.push_back(arg.substr(6));
    } else if (arg == "--set") {
      if (i + 1 >= argc)
        throw ConfigError({"command line: --set: expected section.key=value after it, found nothing"});
      sets.push_back(argv[++i]);
    }
  }
  return sets;
}

void set_out_dir(RunConfig& config, const std::string& dir, const std::string& option) {
  const std::string source = "command line (" + option + " " + printable(dir) + ")";
  const KeySpec& spec = *find_key_spec("train", "out_dir");
  std::string found;
  if (dir.empty()) found = "\"\" (an empty string)";
  else if (const std::optional<size_t> bad = invalid_utf8_offset(dir))
    found = "\"" + printable(dir) + "\", whose byte " + printable(dir.substr(*bad, 1)) + " is not UTF-8";
  if (!found.empty())
    throw ConfigError({source + ": " + spec.path() + ": expected " + spec.expected() + " of UTF-8 text, found " + found});
  config.train.out_dir = dir;
  config.resolved["train"]["out_dir"] = dir;
}

std::unique_ptr<Task> make_task(const TaskConfig& config) {
  return make_task(config.name, config.options);
}

}  // namespace qkv
