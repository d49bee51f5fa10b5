// Gradient check of a module: the gradients backward() gives for the inputs AND for every
// parameter, against central finite differences. Use it in the tests of your own layers
// (build them against qkv_f64: finite differences need double precision).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/gradcheck.h"
#include "layers/module.h"

namespace qkv {

struct ModuleGradcheckResult {
  bool passed = true;
  std::vector<std::pair<std::string, TensorDiff>> checked;  // "input 0", "param q.weight", ...
  std::string settings;                                      // gradcheck_settings() of the options used
  std::string report() const;                                // the settings, then one line per checked tensor
};

// f maps the inputs to any output through `module`; it must be deterministic (put dropout
// in eval mode) and must not capture the inputs it is given by value from outside.
// Non-differentiable inputs (masks, token ids) belong in f's closure, not in `inputs`.
ModuleGradcheckResult gradcheck_module(Module& module, const TensorFunction& f, const std::vector<Tensor>& inputs,
                                       const GradcheckOptions& options = {});

}  // namespace qkv
