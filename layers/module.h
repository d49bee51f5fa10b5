// Module: the base of every layer. A module owns named parameters and named submodules;
// named_parameters() walks them in registration order with dotted names
// ("blocks.0.attn.q.weight"), which optimisers and checkpoints share. Buffers are state
// that is not trained but that a checkpoint must keep (σReparam's power-iteration vectors):
// named_buffers() walks them the same way; no optimiser sees them.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace qkv {

class Module {
 public:
  virtual ~Module() = default;

  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // The parameter with this dotted name ("attn.q.weight"); invalid_argument listing the
  // names when there is none. Writing into its data() sets the weight (tests, loading).
  Tensor parameter(const std::string& dotted_name) const;
  // Copies `values` into that parameter, rounding to Scalar: double data sets a float model
  // without a cast loop. invalid_argument naming the parameter and both shapes when the
  // number of values (or `shape`, when given) does not match. Load many at once, checked
  // before anything is copied, with load_parameters (layers/load_parameters.h).
  void set_parameter(const std::string& dotted_name, const std::vector<double>& values, const Shape& shape = {});
  int64_t parameter_count() const;  // number of scalars
  void zero_grad();

  // Train mode (the default) turns dropout on; eval mode turns it off, recursively.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children() const { return children_; }

 protected:
  // Registers a parameter (made a leaf that requires grad) and returns it.
  Tensor register_parameter(const std::string& name, Tensor value);
  // Registers a buffer (no gradient; the module updates it in place) and returns it.
  Tensor register_buffer(const std::string& name, Tensor value);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  using NamedTensorList = std::vector<std::pair<std::string, Tensor>>;
  void collect(const std::string& prefix, NamedTensorList Module::*which, NamedTensorList& out) const;
  void check_new_name(const std::string& name) const;

  NamedTensorList params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A module with one input and one output, so that Sequential can chain it.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace qkv
