// Optimizer: the base of every update rule. It owns parameter groups (each with its own
// learning rate and weight decay), one state per parameter (an update count and the rule's
// moment buffers, called slots), and the export/import of that state for checkpoints.
//
// step() runs under NoGradGuard, skips parameters whose gradient is undefined (as PyTorch
// does), and calls the rule's update() once per parameter; updates work on whole tensors
// through Eigen maps, never per element through virtual calls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace qkv {

class Module;

using NamedParameters = std::vector<std::pair<std::string, Tensor>>;

// Parameters that share a learning rate and a weight decay. Unset values take the
// optimiser's options.
struct ParamGroup {
  NamedParameters params = {};
  std::optional<double> lr = std::nullopt;
  std::optional<double> weight_decay = std::nullopt;
};

// Splits a module's parameters into {decay, no decay}: tensors of rank <= 1 and names that
// contain "norm" or end in "bias" get no weight decay (the usual transformer recipe).
// Empty groups are left out.
std::vector<ParamGroup> weight_decay_groups(const Module& module, double weight_decay);

// An optimiser's complete state: slot tensors named "<param name>.<slot>" and JSON metadata
// (kind, per-group learning rates and parameter names, per-parameter update counts).
struct OptimizerState {
  NamedParameters tensors;
  nlohmann::json meta;
};

class Optimizer {
 public:
  struct Group {
    NamedParameters params;
    double lr;
    double base_lr;  // the rate the group was built with; schedules scale from it
    double weight_decay;
  };

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  void step();       // one update of every parameter that has a gradient
  void zero_grad();  // drops the gradients (set to undefined, as PyTorch's default)

  const std::string& kind() const { return kind_; }  // "sgd", "adam", ...
  const std::vector<Group>& groups() const { return groups_; }
  void set_lr(double lr);                   // every group
  void set_lr(size_t group, double lr);
  double lr(size_t group = 0) const;
  // Update count of the parameter named `name` (0 before its first update).
  int64_t step_count(const std::string& name) const;

  // The state shares storage with the optimiser: copy it to keep it past the next step.
  OptimizerState state() const;
  // Throws std::invalid_argument naming the first problem (kind, groups, a missing or
  // unexpected tensor, a shape) and changes nothing.
  void check_state(const OptimizerState& state) const;
  void load_state(const OptimizerState& state);  // check_state, then copy in

 protected:
  struct ParamState {
    int64_t step = 0;           // updates done; the rule sees 1 on the first
    std::vector<Tensor> slots;  // in the order of slot_names
  };

  // slot_names: the rule's per-parameter buffers, each created filled with slot_init.
  Optimizer(std::string kind, std::vector<ParamGroup> groups, double default_lr,
            double default_weight_decay, std::vector<std::string> slot_names, Scalar slot_init = 0);

  // Applies the rule to one parameter; state.step already counts this update.
  virtual void update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) = 0;

 private:
  std::string kind_;
  std::vector<Group> groups_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<ParamState>> states_;  // [group][param]
};

}  // namespace qkv
