// A module's parameters as a safetensors file (io/safetensors.h): save them by their dotted
// names, load them back with load_parameters' checks (layers/load_parameters.h). Unlike a
// checkpoint (io/checkpoint.h) there is no optimiser state: this is what a user exchanges
// with other tools, e.g. weights exported from PyTorch with safetensors.torch.save_file
// (qkv's Linear weights are [in, out], PyTorch's [out, in]: transpose them when exporting).
#pragma once

#include <string>

#include "io/safetensors.h"
#include "layers/load_parameters.h"

namespace qkv {

void save_parameters_file(const std::string& path, const Module& module);
// CheckpointError when the file cannot be read or trusted; invalid_argument (from
// load_parameters) when its tensors do not fit the module. Either way nothing is loaded.
LoadParametersResult load_parameters_file(const std::string& path, Module& module, bool strict = true);

}  // namespace qkv
