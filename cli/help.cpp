#include "cli/help.h"

#include <vector>

#include "layers/scorer_registry.h"
#include "tasks/task.h"
#include "train/schema.h"

namespace qkv {
namespace {
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}
}  // namespace

std::string config_names_footer() {
  return "Tasks: " + joined(task_names()) + "\nScorers (model.scorer): " + joined(scorer_kinds()) +
         "\nPositional kinds (model.positional): " + joined(find_key_spec("model", "positional")->choices) +
         "\nRun config keys with their type, default and range: train --list-keys, or docs/config_keys.md;\n"
         "experiment config keys: docs/experiments.md.";
}

}  // namespace qkv
