#include "core/autograd.h"

#include <Eigen/Core>
#include <atomic>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include "core/ops.h"

namespace qkv {
namespace {
thread_local bool g_grad_enabled = true;
std::atomic<uint64_t> g_tape_position{0};

// Adds g into the gradient slot. The first gradient is adopted when nobody else holds its
// buffer (the usual case: a backward's fresh result), and copied otherwise, so that a later
// in-place accumulation never writes into storage that someone else holds.
void accumulate(std::shared_ptr<TensorImpl>& slot, Tensor g) {
  if (!slot) {
    const bool sole_owner = g.impl_ptr().use_count() == 1 && g.impl()->storage.use_count() == 1 && !g.impl()->meta;
    slot = sole_owner ? g.impl_ptr() : g.clone().impl_ptr();
    return;
  }
  Tensor acc(slot);
  Eigen::Map<Eigen::Array<Scalar, Eigen::Dynamic, 1>>(acc.data(), acc.numel()) +=
      Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>>(g.data(), g.numel());
}
}  // namespace

Node::~Node() {
  std::vector<std::shared_ptr<Node>> orphans;
  auto take_orphans = [&orphans](std::vector<std::shared_ptr<AutogradMeta>>& inputs) {
    for (auto& meta : inputs)
      if (meta && meta.use_count() == 1 && meta->grad_fn && meta->grad_fn.use_count() == 1)
        orphans.push_back(std::move(meta->grad_fn));
    inputs.clear();
  };
  take_orphans(inputs);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    take_orphans(node->inputs);  // node now dies with no inputs left to destroy
  }
}

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Tensor record_op(std::string op, Tensor output, const std::vector<Tensor>& inputs,
                 BackwardFn backward) {
  if (!g_grad_enabled) return output;
  bool any = false;
  for (const Tensor& in : inputs) any = any || in.requires_grad();
  if (!any) return output;
  if (!output.is_leaf())
    throw std::logic_error("record_op(" + op + "): the output already has a record");

  auto node = std::make_shared<Node>();
  node->tape_position = ++g_tape_position;
  node->op = std::move(op);
  node->output_shape = output.shape();
  for (const Tensor& in : inputs) {
    node->inputs.push_back(in.requires_grad() ? in.autograd_meta() : nullptr);
    node->input_shapes.push_back(in.defined() ? in.shape() : Shape{});
  }
  node->backward = std::move(backward);

  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = std::move(node);
  output.impl()->meta = std::move(meta);
  return output;
}

Tensor record_op(std::string op, Tensor output, std::initializer_list<Tensor> inputs,
                 BackwardFn backward) {
  return record_op(std::move(op), std::move(output), std::vector<Tensor>(inputs),
                   std::move(backward));
}

void run_backward(const Tensor& root, const Tensor& seed) {
  if (!root.requires_grad())
    throw std::logic_error("backward: the tensor does not require grad (no input of its "
                           "computation requires grad, or it was computed under NoGradGuard)");
  NoGradGuard no_grad;  // backward closures compute with ops; none of that is recorded
  auto root_meta = root.autograd_meta();
  if (!root_meta->grad_fn || root_meta->retains_grad) accumulate(root_meta->grad, seed);
  if (!root_meta->grad_fn) return;

  // Pending gradient of each record's output, and a max-heap on tape position: a record
  // is replayed only after every later record (all its consumers) has been.
  std::unordered_map<Node*, Tensor> pending;
  auto later_first = [](const std::shared_ptr<Node>& a, const std::shared_ptr<Node>& b) {
    return a->tape_position < b->tape_position;
  };
  std::priority_queue<std::shared_ptr<Node>, std::vector<std::shared_ptr<Node>>,
                      decltype(later_first)>
      queue(later_first);
  pending[root_meta->grad_fn.get()] = seed;
  queue.push(root_meta->grad_fn);

  while (!queue.empty()) {
    std::shared_ptr<Node> node = queue.top();
    queue.pop();
    Tensor grad_output = std::move(pending[node.get()]);
    pending.erase(node.get());
    if (!node->backward)
      throw std::logic_error("backward: the record of op '" + node->op +
                             "' was already consumed by an earlier backward; run the forward "
                             "pass again before calling backward a second time");
    BackwardFn backward = std::move(node->backward);
    node->backward = nullptr;  // frees what the record saved for backward
    std::vector<Tensor> grads = backward(grad_output);
    if (grads.size() != node->inputs.size())
      throw std::logic_error("backward of op '" + node->op + "' returned " +
                             std::to_string(grads.size()) + " gradients for " +
                             std::to_string(node->inputs.size()) + " inputs");
    for (size_t i = 0; i < grads.size(); ++i) {
      const auto& meta = node->inputs[i];
      if (!meta || !grads[i].defined()) continue;
      if (grads[i].shape() != node->input_shapes[i])
        throw std::logic_error("backward of op '" + node->op + "' returned a gradient of shape " +
                               shape_str(grads[i].shape()) + " for input " + std::to_string(i) +
                               " of shape " + shape_str(node->input_shapes[i]));
      if (!meta->grad_fn) {  // a leaf: its gradient goes nowhere else, so it may be adopted
        accumulate(meta->grad, std::move(grads[i]));
        continue;
      }
      if (meta->retains_grad) accumulate(meta->grad, grads[i]);
      auto [it, inserted] = pending.try_emplace(meta->grad_fn.get(), Tensor());
      if (inserted) {
        it->second = grads[i];
        queue.push(meta->grad_fn);
      } else {
        it->second = add(it->second, grads[i]);
      }
    }
  }
}

}  // namespace qkv
