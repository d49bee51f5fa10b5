#include "optim/rmsprop.h"

#include <stdexcept>

#include "optim/update_kernels.h"

namespace qkv {
using namespace optim_detail;

namespace {
std::vector<std::string> rmsprop_slots(const RMSpropOptions& o) {
  auto fail = [](const std::string& what, double v) {
    throw std::invalid_argument("rmsprop: invalid " + what + " " + std::to_string(v));
  };
  if (!(o.alpha >= 0 && o.alpha <= 1)) fail("alpha (must be in [0, 1])", o.alpha);
  if (!(o.eps >= 0)) fail("eps", o.eps);
  if (!(o.momentum >= 0)) fail("momentum", o.momentum);
  std::vector<std::string> slots{"square_avg"};
  if (o.momentum > 0) slots.push_back("momentum_buffer");
  if (o.centered) slots.push_back("grad_avg");
  return slots;
}
}  // namespace

RMSprop::RMSprop(std::vector<ParamGroup> groups, RMSpropOptions options)
    : Optimizer("rmsprop", std::move(groups), options.lr, options.weight_decay, rmsprop_slots(options)),
      options_(options) {
  int next = 1;
  if (options.momentum > 0) momentum_slot_ = next++;
  if (options.centered) grad_avg_slot_ = next++;
}

void RMSprop::update(Tensor& param, const Tensor& grad, ParamState& state, const Group& group) {
  const Scalar lr = static_cast<Scalar>(group.lr);
  const Scalar wd = static_cast<Scalar>(group.weight_decay);
  const Scalar alpha = static_cast<Scalar>(options_.alpha);
  const Scalar eps = static_cast<Scalar>(options_.eps);
  const Scalar mu = static_cast<Scalar>(options_.momentum);
  for_chunks(param.numel(), 12, [&](int64_t begin, int64_t end) {
    Map theta = chunk(param, begin, end);
    Map v = chunk(state.slots[0], begin, end);
    const auto g = chunk(grad, begin, end) + wd * theta;
    v = alpha * v + (1 - alpha) * g * g;
    auto step = [&](const auto& avg) {
      if (momentum_slot_ >= 0) {
        Map buf = chunk(state.slots[momentum_slot_], begin, end);
        buf = mu * buf + g / avg;
        theta -= lr * buf;
      } else {
        theta -= lr * g / avg;
      }
    };
    if (grad_avg_slot_ >= 0) {
      Map g_avg = chunk(state.slots[grad_avg_slot_], begin, end);
      g_avg = alpha * g_avg + (1 - alpha) * g;
      step((v - g_avg * g_avg).sqrt() + eps);
    } else {
      step(v.sqrt() + eps);
    }
  });
}

}  // namespace qkv
