#include "layers/load_parameters.h"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace qkv {

LoadParametersResult load_parameters(Module& module, const std::vector<std::pair<std::string, Tensor>>& tensors,
                                     bool strict) {
  auto params = module.named_parameters();
  std::map<std::string, Tensor> given;
  std::vector<std::string> problems;
  for (const auto& [name, t] : tensors)
    if (!given.emplace(name, t).second) problems.push_back("'" + name + "' is given twice");

  LoadParametersResult result;
  std::set<std::string> known;
  for (const auto& [name, p] : params) {
    known.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      result.missing.push_back(name);
    } else if (!it->second.defined() || it->second.shape() != p.shape()) {
      problems.push_back("'" + name + "' is " + shape_str(p.shape()) + " in the module but " +
                         (it->second.defined() ? shape_str(it->second.shape()) : std::string("undefined")) +
                         " in the given tensors");
    }
  }
  for (const auto& [name, _] : tensors)
    if (!known.count(name) && std::find(result.unexpected.begin(), result.unexpected.end(), name) == result.unexpected.end())
      result.unexpected.push_back(name);
  if (strict) {
    for (const auto& name : result.missing) problems.push_back("parameter '" + name + "' is missing");
    for (const auto& name : result.unexpected) problems.push_back("'" + name + "' is not a parameter of the module");
  }
  if (!problems.empty()) {
    std::string message = "load_parameters: nothing was loaded:";
    for (const auto& p : problems) message += "\n  " + p;
    throw std::invalid_argument(message);
  }
  for (auto& [name, p] : params) {
    auto it = given.find(name);
    if (it == given.end()) continue;
    // Copy into the existing storage: the parameter stays the leaf optimisers hold.
    std::copy(it->second.data(), it->second.data() + p.numel(), p.data());
  }
  return result;
}

LoadParametersResult load_parameters(Module& module, const std::map<std::string, Tensor>& tensors, bool strict) {
  return load_parameters(module, std::vector<std::pair<std::string, Tensor>>(tensors.begin(), tensors.end()), strict);
}

}  // namespace qkv
