#include "io/parameters_file.h"

namespace qkv {

void save_parameters_file(const std::string& path, const Module& module) {
  save_safetensors(path, module.named_parameters(), {{"format", "qkv parameters"}});
}

LoadParametersResult load_parameters_file(const std::string& path, Module& module, bool strict) {
  return load_parameters(module, load_safetensors(path).tensors, strict);
}

}  // namespace qkv
