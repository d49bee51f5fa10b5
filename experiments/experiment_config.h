// Reading an experiment's JSON config with the same care as a run config: every key is
// known, typed and range-checked, and each problem is one line naming the file, the JSON
// path, what was expected and what was found (ConfigError from train/config.h).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace qkv {

class JsonReader {
 public:
  JsonReader(const nlohmann::json& object, std::string source, std::string path = "");

  // Each getter leaves `value` at its default when the key is absent.
  void integer(const std::string& key, int64_t& value, int64_t min, int64_t max);
  void number(const std::string& key, double& value, double min, double max);
  void boolean(const std::string& key, bool& value);
  void string(const std::string& key, std::string& value, const std::vector<std::string>& choices = {});
  void integer_list(const std::string& key, std::vector<int64_t>& values, int64_t min, int64_t max);
  void number_list(const std::string& key, std::vector<double>& values, double min, double max);  // may be empty
  void string_list(const std::string& key, std::vector<std::string>& values, const std::vector<std::string>& choices);
  void object(const std::string& key, nlohmann::json& value);  // taken as is (checked elsewhere)
  // A sub-object read by its own JsonReader that shares this one's problem list; absent
  // means "all defaults".
  JsonReader child(const std::string& key);
  // A non-empty array of objects, each read by its own JsonReader (path "key[i]") sharing
  // this one's problem list; absent gives an empty list.
  std::vector<JsonReader> object_list(const std::string& key);

  bool has(const std::string& key) const { return object_.contains(key); }
  void problem(const std::string& key, const std::string& expected, const std::string& found);
  // Adds an "unknown key" problem, with a suggestion, for each key no getter asked for.
  void check_unknown_keys();
  // Throws ConfigError listing every problem found by this reader and its children.
  void throw_if_problems() const;

 private:
  const nlohmann::json* find(const std::string& key);
  std::string where(const std::string& key) const;

  nlohmann::json object_;
  std::string source_, path_;
  std::vector<std::string> known_;
  std::shared_ptr<std::vector<std::string>> problems_;
};

// Parses a JSON file; malformed JSON is a ConfigError naming the line and column.
nlohmann::json read_json_file(const std::string& path);

// An experiment's config: the JSON file with command-line overrides applied, each
// "path.to.key=value" as the train program's --set takes them (the value parsed as JSON
// when it parses, else taken as a string), at any depth (training.steps=50). A path
// through a value that is not an object is a ConfigError naming the --set.
nlohmann::json read_experiment_config(const std::string& path, const std::vector<std::string>& overrides);

// How messages name a config read with overrides: "configs/x.json (with --set a=1)".
std::string experiment_config_source(const std::string& path, const std::vector<std::string>& overrides);

}  // namespace qkv
