// ModuleList: an indexed list of submodules of one type, registered as "0", "1", ...,
// so a model's parameters read "blocks.0.attn.q.weight".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/module.h"

namespace qkv {

template <class M>
class ModuleList : public Module {
 public:
  M& add(std::shared_ptr<M> module) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(module)));
    return *items_.back();
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) { return *items_.at(i); }
  auto begin() { return items_.begin(); }
  auto end() { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace qkv
