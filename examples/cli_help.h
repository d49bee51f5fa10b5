// What the --help of train and of the experiment programs shows below the options: the
// names a config can use (registered scorers included) and where every key is listed.
#pragma once

#include <string>
#include <vector>

#include "qkv.h"

namespace qkv_cli {

inline std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

inline std::string config_names_footer() {
  return "Tasks: " + joined(qkv::task_names()) + "\nScorers (model.scorer): " + joined(qkv::scorer_kinds()) +
         "\nPositional kinds (model.positional): " + joined(qkv::find_key_spec("model", "positional")->choices) +
         "\nRun config keys with their type, default and range: train --list-keys, or README.md (\"Config keys\");\n"
         "experiment config keys: docs/experiments.md.";
}

}  // namespace qkv_cli
