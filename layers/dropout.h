// Dropout as a module: active in train mode, the identity in eval mode. It owns its own
// Generator, seeded from the one passed at construction, so a model's dropout masks are
// reproducible from the model's seed and the module never holds a dangling reference.
#pragma once

#include "core/generator.h"
#include "layers/module.h"

namespace qkv {

class Dropout : public UnaryModule {
 public:
  Dropout(Scalar p, Generator& seed_source);  // p in [0, 1)
  Tensor forward(const Tensor& x) override;
  Scalar p() const { return p_; }
  Generator& generator() { return gen_; }  // to save or restore its state

 private:
  Scalar p_;
  Generator gen_;
};

}  // namespace qkv
