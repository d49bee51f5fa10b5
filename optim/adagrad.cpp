#include "optim/adagrad.h"

#include <stdexcept>

#include "optim/update_kernels.h"

namespace qkv {
using namespace optim_detail;

namespace {
const AdagradOptions& checked(const AdagradOptions& o) {
  auto fail = [](const std::string& what, double v) {
    throw std::invalid_argument("adagrad: invalid " + what + " " + std::to_string(v));
  };
  if (!(o.lr_decay >= 0)) fail("lr_decay", o.lr_decay);
  if (!(o.initial_accumulator_value >= 0)) fail("initial_accumulator_value", o.initial_accumulator_value);
  if (!(o.eps >= 0)) fail("eps", o.eps);
  return o;
}
}  // namespace

Adagrad::Adagrad(std::vector<ParamGroup> groups, AdagradOptions options)
    : Optimizer("adagrad", std::move(groups), checked(options).lr, options.weight_decay, {"sum"},
                static_cast<Scalar>(options.initial_accumulator_value)),
      options_(options) {}

void Adagrad::update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) {
  const Scalar clr = static_cast<Scalar>(group.lr / (1 + static_cast<double>(state.step - 1) * options_.lr_decay));
  const Scalar wd = static_cast<Scalar>(group.weight_decay);
  const Scalar eps = static_cast<Scalar>(options_.eps);
  for_chunks(param.numel(), 8, [&](int64_t begin, int64_t end) {
    Map theta = chunk(param, begin, end);
    Map sum = chunk(state.slots[0], begin, end);
    const auto g = chunk(grad, begin, end) + wd * theta;
    sum += g * g;
    theta -= clr * g / (sum.sqrt() + eps);
  });
}

}  // namespace qkv
