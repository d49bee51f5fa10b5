// Gradient checks of layers (double build): inputs AND parameters against central finite
// differences, through qkv::gradcheck_module. Keep the modules tiny: every parameter
// element costs two forward passes.
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "qkv.h"

inline void check_layer_gradients(qkv::Module& module, const qkv::TensorFunction& f,
                                  const std::vector<qkv::Tensor>& inputs) {
  const qkv::ModuleGradcheckResult r = qkv::gradcheck_module(module, f, inputs);
  INFO(r.report());
  CHECK(r.passed);
  // Every parameter was checked, not only the inputs.
  CHECK(r.checked.size() == inputs.size() + module.named_parameters().size());
}

// Parameters drawn away from their initial values (zeros, ones) so that no gradient is
// checked only at a special point.
inline void randomise_parameters(qkv::Module& module, qkv::Generator& gen, qkv::Scalar stddev = 0.5) {
  for (auto& [_, p] : module.named_parameters())
    for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] += static_cast<qkv::Scalar>(stddev * gen.normal());
}
