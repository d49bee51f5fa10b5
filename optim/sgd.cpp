#include "optim/sgd.h"

#include <stdexcept>

#include "optim/update_kernels.h"

namespace qkv {
using namespace optim_detail;

namespace {
std::vector<std::string> sgd_slots(const SGDOptions& o) {
  if (!(o.momentum >= 0)) throw std::invalid_argument("sgd: invalid momentum " + std::to_string(o.momentum));
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
    throw std::invalid_argument("sgd: Nesterov momentum requires a momentum and zero dampening");
  if (o.momentum == 0) return {};
  return {"momentum_buffer"};
}
}  // namespace

SGD::SGD(std::vector<ParamGroup> groups, SGDOptions options)
    : Optimizer("sgd", std::move(groups), options.lr, options.weight_decay, sgd_slots(options)),
      options_(options) {}

void SGD::update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) {
  const Scalar lr = static_cast<Scalar>(group.lr);
  const Scalar wd = static_cast<Scalar>(group.weight_decay);
  const Scalar mu = static_cast<Scalar>(options_.momentum);
  const Scalar keep = static_cast<Scalar>(1 - options_.dampening);
  // PyTorch creates the momentum buffer as a copy of the first gradient, undamped.
  const bool first = state.step == 1;
  for_chunks(param.numel(), 6, [&](int64_t begin, int64_t end) {
    Map theta = chunk(param, begin, end);
    const auto g = chunk(grad, begin, end) + wd * theta;  // read before theta changes
    if (mu == 0) {
      theta -= lr * g;
      return;
    }
    Map buf = chunk(state.slots[0], begin, end);
    if (first) buf = g;
    else buf = mu * buf + keep * g;
    if (options_.nesterov) theta -= lr * (g + mu * buf);
    else theta -= lr * buf;
  });
}

}  // namespace qkv
