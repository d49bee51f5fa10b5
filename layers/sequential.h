// Sequential: unary modules applied in order; the i-th is registered as "i", so its
// parameters are named "0.weight", "1.bias", ...
#pragma once

#include <memory>
#include <vector>

#include "layers/module.h"

namespace qkv {

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> modules);
  Sequential& add(std::shared_ptr<UnaryModule> module);  // returns *this to chain
  Tensor forward(const Tensor& x) override;
  size_t size() const { return modules_.size(); }
  UnaryModule& operator[](size_t i) { return *modules_.at(i); }

 private:
  std::vector<std::shared_ptr<UnaryModule>> modules_;
};

}  // namespace qkv
