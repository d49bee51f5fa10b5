// Setting a module's parameters from named tensors, like PyTorch's load_state_dict: by dotted
// name (named_parameters() gives them), every name and shape checked before anything is
// copied, so a bad set of tensors changes nothing. io/parameters_file.h does the same from a
// safetensors file.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"

namespace qkv {

struct LoadParametersResult {
  std::vector<std::string> missing;     // parameters of the module not given (strict: error)
  std::vector<std::string> unexpected;  // given names that are no parameter (strict: error)
};

// invalid_argument listing every problem at once: a shape that differs (naming the parameter,
// its shape and the given one), a name given twice, and with `strict` missing and unexpected
// names. Values are copied (converted to Scalar); the module's tensors stay the same objects,
// so optimisers holding them see the new values.
LoadParametersResult load_parameters(Module& module, const std::vector<std::pair<std::string, Tensor>>& tensors,
                                     bool strict = true);
LoadParametersResult load_parameters(Module& module, const std::map<std::string, Tensor>& tensors, bool strict = true);

}  // namespace qkv
