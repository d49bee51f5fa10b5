// Eigen views used by the update rules: a parameter, its gradient and its slots as flat
// arrays, walked in contiguous chunks (in parallel for large tensors). Internal to optim/.
#pragma once

#include <Eigen/Core>

#include "core/parallel.h"
#include "core/tensor.h"

namespace qkv::optim_detail {

using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using Map = Eigen::Map<Array>;
using ConstMap = Eigen::Map<const Array>;

inline Map chunk(Tensor& t, int64_t begin, int64_t end) { return Map(t.data() + begin, end - begin); }
inline ConstMap chunk(const Tensor& t, int64_t begin, int64_t end) {
  return ConstMap(t.data() + begin, end - begin);
}

// Calls fn(begin, end) over the elements of a tensor of n elements; `cost` is the rough
// number of operations per element.
template <class Fn>
void for_chunks(int64_t n, int64_t cost, Fn&& fn) {
  parallel_for(n, cost, std::forward<Fn>(fn));
}

}  // namespace qkv::optim_detail
