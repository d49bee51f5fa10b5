#include "core/score_mod.h"

namespace qkv {

void ScoreMod::check_heads(int64_t) const {}

TaskGradients::TaskGradients(const std::vector<Tensor>& parameters, int64_t tasks) : tasks_(tasks) {
  for (const Tensor& p : parameters) {
    shapes_.push_back(p.shape());
    offsets_.push_back(width_);
    width_ += p.numel();
  }
  blocks_.assign(static_cast<size_t>(tasks_ * width_), Scalar(0));
}

ParameterGrads TaskGradients::slots(int64_t task, size_t first, size_t count) {
  ParameterGrads grads;
  for (size_t p = first; p < first + count; ++p) grads.slots.push_back(blocks_.data() + task * width_ + offsets_[p]);
  return grads;
}

std::vector<Tensor> TaskGradients::sums() const {
  std::vector<Tensor> out;
  for (size_t p = 0; p < shapes_.size(); ++p) {
    Tensor sum = Tensor::zeros(shapes_[p]);
    for (int64_t task = 0; task < tasks_; ++task)
      for (int64_t i = 0; i < sum.numel(); ++i) sum.data()[i] += blocks_[task * width_ + offsets_[p] + i];
    out.push_back(sum);
  }
  return out;
}

}  // namespace qkv
