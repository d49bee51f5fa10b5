// Helpers shared by the trainer tests: scratch run folders and reading metrics files.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "../child_process.h"

namespace qkv_test {

// An empty folder under the system's temp dir, unique to this process and name.
inline std::string scratch_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("qkv_train_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::vector<nlohmann::json> jsonl_rows(const std::string& path) {
  std::vector<nlohmann::json> rows;
  for (const std::string& line : lines_of(path)) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// The run configs in configs/: every JSON file there except the experiment programs' own
// configs (vanishing, vanishing_full, position, scorers, scale_alternatives, stability), which
// tests/experiments/ loads with their loaders.
inline std::vector<std::filesystem::path> run_config_paths() {
  const std::vector<std::string> experiment_configs{"vanishing.json", "position.json", "scorers.json",
                                                    "scale_alternatives.json", "stability.json", "vanishing_full.json"};
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(QKV_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".json") continue;
    const std::string name = entry.path().filename().string();
    if (std::find(experiment_configs.begin(), experiment_configs.end(), name) != experiment_configs.end()) continue;
    paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace qkv_test
