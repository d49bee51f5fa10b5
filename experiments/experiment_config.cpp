#include "experiments/experiment_config.h"

#include "io/json_text.h"
#include "io/regular_file.h"

#include <sstream>

#include "train/config.h"

namespace qkv {
namespace {
std::string type_name(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer " + v.dump();
  if (v.is_number()) return "number " + v.dump();
  if (v.is_string()) return "string " + v.dump();
  if (v.is_boolean()) return v.dump();
  if (v.is_null()) return "null";
  if (v.is_array()) return "an array";
  return "an object";
}

std::string choices_text(const std::vector<std::string>& choices) {
  std::string s = "one of ";
  for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", \"" : "\"") + choices[i] + "\"";
  return s;
}

std::string range_text(const std::string& what, double min, double max) {
  std::ostringstream os;
  os << what << " in [" << min << ", " << max << "]";
  return os.str();
}
}  // namespace

JsonReader::JsonReader(const nlohmann::json& object, std::string source, std::string path)
    : object_(object), source_(std::move(source)), path_(std::move(path)),
      problems_(std::make_shared<std::vector<std::string>>()) {
  if (!object_.is_object()) {
    problems_->push_back(source_ + ": " + (path_.empty() ? std::string("the top level") : path_) +
                         ": expected an object, found " + type_name(object_));
    object_ = nlohmann::json::object();
  }
}

std::string JsonReader::where(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

void JsonReader::problem(const std::string& key, const std::string& expected, const std::string& found) {
  problems_->push_back(source_ + ": " + where(key) + ": expected " + expected + ", found " + found);
}

const nlohmann::json* JsonReader::find(const std::string& key) {
  known_.push_back(key);
  auto it = object_.find(key);
  return it == object_.end() ? nullptr : &*it;
}

void JsonReader::integer(const std::string& key, int64_t& value, int64_t min, int64_t max) {
  const auto* v = find(key);
  if (!v) return;
  if (!v->is_number_integer() || v->get<int64_t>() < min || v->get<int64_t>() > max)
    return problem(key, range_text("an integer", static_cast<double>(min), static_cast<double>(max)), type_name(*v));
  value = v->get<int64_t>();
}

void JsonReader::number(const std::string& key, double& value, double min, double max) {
  const auto* v = find(key);
  if (!v) return;
  if (!v->is_number() || v->get<double>() < min || v->get<double>() > max)
    return problem(key, range_text("a number", min, max), type_name(*v));
  value = v->get<double>();
}

void JsonReader::boolean(const std::string& key, bool& value) {
  const auto* v = find(key);
  if (!v) return;
  if (!v->is_boolean()) return problem(key, "true or false", type_name(*v));
  value = v->get<bool>();
}

void JsonReader::string(const std::string& key, std::string& value, const std::vector<std::string>& choices) {
  const auto* v = find(key);
  if (!v) return;
  const bool ok = v->is_string() &&
                  (choices.empty() || std::find(choices.begin(), choices.end(), v->get<std::string>()) != choices.end());
  if (!ok) return problem(key, choices.empty() ? "a string" : choices_text(choices), type_name(*v));
  value = v->get<std::string>();
}

void JsonReader::integer_list(const std::string& key, std::vector<int64_t>& values, int64_t min, int64_t max) {
  const auto* v = find(key);
  if (!v) return;
  const std::string expected =
      "a non-empty array of " + range_text("integers", static_cast<double>(min), static_cast<double>(max));
  if (!v->is_array() || v->empty()) return problem(key, expected, type_name(*v));
  std::vector<int64_t> out;
  for (const auto& e : *v) {
    if (!e.is_number_integer() || e.get<int64_t>() < min || e.get<int64_t>() > max)
      return problem(key, expected, "an element " + type_name(e));
    out.push_back(e.get<int64_t>());
  }
  values = out;
}

void JsonReader::number_list(const std::string& key, std::vector<double>& values, double min, double max) {
  const auto* v = find(key);
  if (!v) return;
  const std::string expected = "an array of " + range_text("numbers", min, max);
  if (!v->is_array()) return problem(key, expected, type_name(*v));
  std::vector<double> out;
  for (const auto& e : *v) {
    if (!e.is_number() || e.get<double>() < min || e.get<double>() > max)
      return problem(key, expected, "an element " + type_name(e));
    out.push_back(e.get<double>());
  }
  values = out;
}

void JsonReader::string_list(const std::string& key, std::vector<std::string>& values,
                             const std::vector<std::string>& choices) {
  const auto* v = find(key);
  if (!v) return;
  const std::string expected = "a non-empty array, each " + choices_text(choices);
  if (!v->is_array() || v->empty()) return problem(key, expected, type_name(*v));
  std::vector<std::string> out;
  for (const auto& e : *v) {
    if (!e.is_string() || std::find(choices.begin(), choices.end(), e.get<std::string>()) == choices.end())
      return problem(key, expected, "an element " + type_name(e));
    out.push_back(e.get<std::string>());
  }
  values = out;
}

void JsonReader::object(const std::string& key, nlohmann::json& value) {
  const auto* v = find(key);
  if (!v) return;
  if (!v->is_object()) return problem(key, "an object", type_name(*v));
  value = *v;
}

JsonReader JsonReader::child(const std::string& key) {
  const auto* v = find(key);
  JsonReader r(nlohmann::json::object(), source_, where(key));
  r.problems_ = problems_;
  if (v) {
    if (v->is_object()) r.object_ = *v;
    else problem(key, "an object", type_name(*v));
  }
  return r;
}

std::vector<JsonReader> JsonReader::object_list(const std::string& key) {
  const auto* v = find(key);
  std::vector<JsonReader> readers;
  if (!v) return readers;
  if (!v->is_array() || v->empty()) {
    problem(key, "a non-empty array of objects", type_name(*v));
    return readers;
  }
  for (size_t i = 0; i < v->size(); ++i) {
    JsonReader r(nlohmann::json::object(), source_, where(key) + "[" + std::to_string(i) + "]");
    r.problems_ = problems_;
    if ((*v)[i].is_object()) r.object_ = (*v)[i];
    else problem(key + "[" + std::to_string(i) + "]", "an object", type_name((*v)[i]));
    readers.push_back(std::move(r));
  }
  return readers;
}

void JsonReader::check_unknown_keys() {
  for (const auto& [key, _] : object_.items()) {
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string best;
    size_t best_distance = 3;  // suggest only close names
    for (const auto& k : known_) {
      const size_t d = edit_distance(key, k);
      if (d < best_distance) best_distance = d, best = k;
    }
    problems_->push_back(source_ + ": " + where(key) + ": unknown key" +
                         (best.empty() ? std::string() : " (did you mean \"" + best + "\"?)"));
  }
}

void JsonReader::throw_if_problems() const {
  if (!problems_->empty()) throw ConfigError(*problems_);
}

nlohmann::json read_json_file(const std::string& path) {
  std::string text;
  try {
    text = read_regular_file(path);
  } catch (const FileReadError& e) {
    throw ConfigError({path + ": cannot open the file (" + e.what() + ")"});
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    const TextPosition at = text_position(text, e.byte > 0 ? e.byte - 1 : 0);
    throw ConfigError({path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                       ": malformed JSON: " + e.what()});
  }
}

nlohmann::json read_experiment_config(const std::string& path, const std::vector<std::string>& overrides) {
  nlohmann::json config = read_json_file(path);
  for (const std::string& argument : overrides) {
    const std::string source = "command line (--set " + printable(argument) + ")";
    const size_t eq = argument.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ConfigError({source + ": expected key=value (e.g. training.steps=50), found no key before '='"});
    const std::string key_path = argument.substr(0, eq), text = argument.substr(eq + 1);
    nlohmann::json value;
    try {
      value = parse_json_text(text);
    } catch (const JsonTextError& e) {
      if (e.kind() == JsonTextError::Kind::too_deep) throw ConfigError({source + ": " + e.what()});
      value = text;  // not JSON: a bare word such as scaled_dot
    }
    nlohmann::json* at = &config;
    std::string walked;
    for (size_t from = 0;;) {
      if (!at->is_object())
        throw ConfigError({source + ": " + (walked.empty() ? "(top level)" : walked) + ": expected an object to set " +
                           key_path + " in, found " + at->dump()});
      const size_t dot = key_path.find('.', from);
      const std::string key = key_path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
      if (key.empty()) throw ConfigError({source + ": expected a key path such as training.steps, found \"" + key_path + "\""});
      walked += (walked.empty() ? "" : ".") + key;
      if (dot == std::string::npos) {
        (*at)[key] = std::move(value);
        break;
      }
      if (!at->contains(key)) (*at)[key] = nlohmann::json::object();
      at = &(*at)[key];
      from = dot + 1;
    }
  }
  return config;
}

std::string experiment_config_source(const std::string& path, const std::vector<std::string>& overrides) {
  if (overrides.empty()) return path;
  std::string sets;
  for (const std::string& o : overrides) sets += " --set " + printable(o);
  return path + " (with" + sets + ")";
}

}  // namespace qkv
