#include "optim/optimizer.h"

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <stdexcept>

#include "core/autograd.h"
#include "layers/module.h"

namespace qkv {

std::vector<ParamGroup> weight_decay_groups(const Module& module, double weight_decay) {
  ParamGroup decay{.weight_decay = weight_decay};
  ParamGroup no_decay{.weight_decay = 0.0};
  for (auto& [name, p] : module.named_parameters()) {
    const bool is_bias = name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0;
    const bool exempt = p.dim() <= 1 || name.find("norm") != std::string::npos || is_bias;
    (exempt ? no_decay : decay).params.emplace_back(name, p);
  }
  std::vector<ParamGroup> groups;
  if (!decay.params.empty()) groups.push_back(std::move(decay));
  if (!no_decay.params.empty()) groups.push_back(std::move(no_decay));
  return groups;
}

Optimizer::Optimizer(std::string kind, std::vector<ParamGroup> groups, double default_lr,
                     double default_weight_decay, std::vector<std::string> slot_names, Scalar slot_init)
    : kind_(std::move(kind)), slot_names_(std::move(slot_names)) {
  std::set<std::string> names;
  std::set<const TensorImpl*> tensors;
  for (size_t g = 0; g < groups.size(); ++g) {
    ParamGroup& group = groups[g];
    const double lr = group.lr.value_or(default_lr);
    const double wd = group.weight_decay.value_or(default_weight_decay);
    if (!(lr >= 0)) throw std::invalid_argument(kind_ + ": invalid learning rate " + std::to_string(lr) + " in group " + std::to_string(g));
    if (!(wd >= 0)) throw std::invalid_argument(kind_ + ": invalid weight_decay " + std::to_string(wd) + " in group " + std::to_string(g));
    std::vector<ParamState> states;
    for (auto& [name, p] : group.params) {
      if (!p.defined()) throw std::invalid_argument(kind_ + ": parameter '" + name + "' is undefined");
      if (!p.is_leaf()) throw std::invalid_argument(kind_ + ": parameter '" + name + "' is not a leaf tensor");
      if (!names.insert(name).second)
        throw std::invalid_argument(kind_ + ": parameter name '" + name + "' appears twice");
      if (!tensors.insert(p.impl()).second)
        throw std::invalid_argument(kind_ + ": parameter '" + name + "' is the same tensor as another parameter");
      ParamState state;
      for (size_t s = 0; s < slot_names_.size(); ++s) state.slots.push_back(Tensor::full(p.shape(), slot_init));
      states.push_back(std::move(state));
    }
    groups_.push_back(Group{std::move(group.params), lr, lr, wd});
    states_.push_back(std::move(states));
  }
}

void Optimizer::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      auto& [name, param] = groups_[g].params[i];
      const Tensor grad = param.grad();
      if (!grad.defined()) continue;
      if (grad.shape() != param.shape())
        throw std::logic_error(kind_ + ": gradient of '" + name + "' has shape " + shape_str(grad.shape()) +
                               ", the parameter has " + shape_str(param.shape()));
      ParamState& state = states_[g][i];
      ++state.step;
      update(param, grad, state, groups_[g]);
    }
  }
}

void Optimizer::zero_grad() {
  for (Group& group : groups_)
    for (auto& [_, p] : group.params) p.zero_grad();
}

void Optimizer::set_lr(double lr) {
  for (size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

void Optimizer::set_lr(size_t group, double lr) {
  if (group >= groups_.size())
    throw std::out_of_range(kind_ + ": group " + std::to_string(group) + " of " + std::to_string(groups_.size()));
  if (!(lr >= 0)) throw std::invalid_argument(kind_ + ": invalid learning rate " + std::to_string(lr));
  groups_[group].lr = lr;
}

double Optimizer::lr(size_t group) const {
  if (group >= groups_.size())
    throw std::out_of_range(kind_ + ": group " + std::to_string(group) + " of " + std::to_string(groups_.size()));
  return groups_[group].lr;
}

int64_t Optimizer::step_count(const std::string& name) const {
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      if (groups_[g].params[i].first == name) return states_[g][i].step;
  throw std::out_of_range(kind_ + ": no parameter named '" + name + "'");
}

OptimizerState Optimizer::state() const {
  OptimizerState out;
  out.meta["kind"] = kind_;
  out.meta["groups"] = nlohmann::json::array();
  out.meta["steps"] = nlohmann::json::object();
  for (size_t g = 0; g < groups_.size(); ++g) {
    nlohmann::json names = nlohmann::json::array();
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string& name = groups_[g].params[i].first;
      names.push_back(name);
      out.meta["steps"][name] = static_cast<uint64_t>(states_[g][i].step);
      for (size_t s = 0; s < slot_names_.size(); ++s)
        out.tensors.emplace_back(name + "." + slot_names_[s], states_[g][i].slots[s]);
    }
    out.meta["groups"].push_back({{"lr", groups_[g].lr},
                                  {"base_lr", groups_[g].base_lr},
                                  {"weight_decay", groups_[g].weight_decay},
                                  {"params", names}});
  }
  return out;
}

void Optimizer::check_state(const OptimizerState& state) const {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(kind_ + " state: " + what); };
  const nlohmann::json& meta = state.meta;
  if (!meta.is_object()) fail("metadata is not a JSON object");
  if (!meta.contains("kind") || meta["kind"] != kind_)
    fail("was saved by optimiser " + (meta.contains("kind") ? meta["kind"].dump() : std::string("(none)")) +
         ", this one is \"" + kind_ + "\"");
  if (!meta.contains("groups") || !meta["groups"].is_array() || meta["groups"].size() != groups_.size())
    fail("expected " + std::to_string(groups_.size()) + " parameter groups");
  if (!meta.contains("steps") || !meta["steps"].is_object()) fail("has no per-parameter step counts");
  for (size_t g = 0; g < groups_.size(); ++g) {
    const nlohmann::json& saved = meta["groups"][g];
    const std::string where = "group " + std::to_string(g);
    if (!saved.is_object()) fail(where + " is not an object");
    for (const char* key : {"lr", "base_lr", "weight_decay"})
      if (!saved.contains(key) || !saved[key].is_number() || !(saved[key].get<double>() >= 0))
        fail(where + " has no valid '" + key + "'");
    if (!saved.contains("params") || !saved["params"].is_array()) fail(where + " has no parameter list");
    std::vector<std::string> expected;
    for (auto& [name, _] : groups_[g].params) expected.push_back(name);
    if (saved["params"] != nlohmann::json(expected))
      fail(where + " holds parameters " + saved["params"].dump() + ", this optimiser's holds " +
           nlohmann::json(expected).dump());
    for (auto& [name, _] : groups_[g].params) {
      const nlohmann::json& steps = meta["steps"];
      if (!steps.contains(name) || !steps[name].is_number_unsigned() ||
          steps[name].get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        fail("no valid step count for parameter '" + name + "'");
    }
  }
  std::map<std::string, Shape> expected;
  for (const Group& group : groups_)
    for (auto& [name, p] : group.params)
      for (const std::string& slot : slot_names_) expected.emplace(name + "." + slot, p.shape());
  std::set<std::string> seen;
  for (auto& [name, t] : state.tensors) {
    auto it = expected.find(name);
    if (it == expected.end()) fail("unexpected tensor '" + name + "'");
    if (!seen.insert(name).second) fail("tensor '" + name + "' appears twice");
    if (!t.defined() || t.shape() != it->second)
      fail("tensor '" + name + "' has shape " + (t.defined() ? shape_str(t.shape()) : std::string("undefined")) +
           ", the parameter has " + shape_str(it->second));
  }
  for (auto& [name, _] : expected)
    if (!seen.count(name)) fail("tensor '" + name + "' is missing");
}

void Optimizer::load_state(const OptimizerState& state) {
  check_state(state);
  std::map<std::string, const Tensor*> given;
  for (auto& [name, t] : state.tensors) given.emplace(name, &t);
  for (size_t g = 0; g < groups_.size(); ++g) {
    const nlohmann::json& saved = state.meta["groups"][g];
    groups_[g].lr = saved["lr"].get<double>();
    groups_[g].base_lr = saved["base_lr"].get<double>();
    groups_[g].weight_decay = saved["weight_decay"].get<double>();
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string& name = groups_[g].params[i].first;
      states_[g][i].step = state.meta["steps"][name].get<int64_t>();
      for (size_t s = 0; s < slot_names_.size(); ++s) {
        const Tensor& src = *given.at(name + "." + slot_names_[s]);
        Tensor& dst = states_[g][i].slots[s];
        if (dst.numel() > 0) std::memcpy(dst.data(), src.data(), sizeof(Scalar) * dst.numel());
      }
    }
  }
}

}  // namespace qkv
