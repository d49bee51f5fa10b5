#include "optim/adam.h"

#include <cmath>
#include <stdexcept>

#include "optim/update_kernels.h"

namespace qkv {
using namespace optim_detail;

namespace {
std::vector<std::string> adam_slots(const char* kind, const AdamOptions& o) {
  auto fail = [&](const std::string& what, double v) {
    throw std::invalid_argument(std::string(kind) + ": invalid " + what + " " + std::to_string(v));
  };
  if (!(o.beta1 >= 0 && o.beta1 < 1)) fail("beta1 (must be in [0, 1))", o.beta1);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) fail("beta2 (must be in [0, 1))", o.beta2);
  if (!(o.eps >= 0)) fail("eps", o.eps);
  if (o.amsgrad) return {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
  return {"exp_avg", "exp_avg_sq"};
}
}  // namespace

Adam::Adam(const char* kind, std::vector<ParamGroup> groups, AdamOptions options, bool decoupled_weight_decay)
    : Optimizer(kind, std::move(groups), options.lr, options.weight_decay, adam_slots(kind, options)),
      options_(options),
      decoupled_(decoupled_weight_decay) {}

Adam::Adam(std::vector<ParamGroup> groups, AdamOptions options) : Adam("adam", std::move(groups), options, false) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions o)
    : Adam("adamw", std::move(groups),
           AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2, .eps = o.eps,
                       .weight_decay = o.weight_decay, .amsgrad = o.amsgrad},
           true) {}

void Adam::update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) {
  const double t = static_cast<double>(state.step);
  const Scalar b1 = static_cast<Scalar>(options_.beta1), b2 = static_cast<Scalar>(options_.beta2);
  const Scalar eps = static_cast<Scalar>(options_.eps);
  const Scalar step_size = static_cast<Scalar>(group.lr / (1 - std::pow(options_.beta1, t)));
  const Scalar bias_correction2_sqrt = static_cast<Scalar>(std::sqrt(1 - std::pow(options_.beta2, t)));
  const Scalar l2 = decoupled_ ? Scalar(0) : static_cast<Scalar>(group.weight_decay);
  const Scalar shrink = static_cast<Scalar>(decoupled_ ? 1 - group.lr * group.weight_decay : 1.0);
  for_chunks(param.numel(), 12, [&](int64_t begin, int64_t end) {
    Map theta = chunk(param, begin, end);
    Map m = chunk(state.slots[0], begin, end);
    Map v = chunk(state.slots[1], begin, end);
    const auto g = chunk(grad, begin, end) + l2 * theta;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    if (decoupled_) theta *= shrink;
    if (options_.amsgrad) {
      Map v_max = chunk(state.slots[2], begin, end);
      v_max = v_max.max(v);
      theta -= step_size * m / (v_max.sqrt() / bias_correction2_sqrt + eps);
    } else {
      theta -= step_size * m / (v.sqrt() / bias_correction2_sqrt + eps);
    }
  });
}

}  // namespace qkv
