#include "layers/module.h"

#include <stdexcept>

namespace qkv {
namespace {
void check_name(const std::string& name, const char* what) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument(std::string(what) + " name '" + name + "' must be non-empty and contain no '.'");
}
}  // namespace

void Module::check_new_name(const std::string& name) const {
  for (const NamedTensorList* list : {&params_, &buffers_})
    for (const auto& [n, _] : *list)
      if (n == name) throw std::invalid_argument("parameter or buffer '" + name + "' is registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_name(name, "parameter");
  check_new_name(name);
  Tensor leaf = value.detach();
  leaf.requires_grad_(true);
  params_.emplace_back(name, leaf);
  return leaf;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_name(name, "buffer");
  check_new_name(name);
  Tensor buffer = value.detach();
  buffers_.emplace_back(name, buffer);
  return buffer;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_name(name, "submodule");
  if (!module) throw std::invalid_argument("submodule '" + name + "' is null");
  for (const auto& [n, _] : children_)
    if (n == name) throw std::invalid_argument("submodule '" + name + "' is registered twice");
  children_.emplace_back(name, std::move(module));
}

void Module::collect(const std::string& prefix, NamedTensorList Module::*which, NamedTensorList& out) const {
  for (const auto& [name, t] : this->*which) out.emplace_back(prefix + name, t);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", which, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  NamedTensorList out;
  collect("", &Module::params_, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  NamedTensorList out;
  collect("", &Module::buffers_, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, p] : named_parameters()) out.push_back(p);
  return out;
}

Tensor Module::parameter(const std::string& dotted_name) const {
  std::string names;
  for (auto& [name, p] : named_parameters()) {
    if (name == dotted_name) return p;
    names += (names.empty() ? "" : ", ") + name;
  }
  throw std::invalid_argument("no parameter named '" + dotted_name + "'; the parameters are: " +
                              (names.empty() ? "(none)" : names));
}

void Module::set_parameter(const std::string& dotted_name, const std::vector<double>& values, const Shape& shape) {
  Tensor p = parameter(dotted_name);
  const bool shape_differs = !shape.empty() && shape != p.shape();
  if (shape_differs || static_cast<int64_t>(values.size()) != p.numel())
    throw std::invalid_argument("set_parameter: '" + dotted_name + "' is " + shape_str(p.shape()) + " (" +
                                std::to_string(p.numel()) + " values), got " +
                                (shape.empty() ? std::string() : shape_str(shape) + " ") + "with " +
                                std::to_string(values.size()) + " values");
  for (size_t i = 0; i < values.size(); ++i) p.data()[i] = static_cast<Scalar>(values[i]);
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [_, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::zero_grad() {
  for (auto& [_, p] : named_parameters()) p.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

}  // namespace qkv
