// The tape. Every op run on inputs that need gradients appends one record: the op's
// name, edges to its inputs' autograd state, and a closure that maps the gradient of
// the output to gradients of the inputs. Records carry their position on the tape (a
// global counter), and backward() replays the records reachable from the loss in
// reverse tape order, so it never recurses however deep the graph.
//
// record_op() is public: built-in ops and a user's own ops (see examples/custom_op.cpp)
// go through the same door.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace qkv {

// Maps dL/d(output) to dL/d(input) for each input, in order. An undefined Tensor means
// "no gradient for this input". Runs with recording off: backward is not differentiable.
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  uint64_t tape_position = 0;
  std::string op;
  std::vector<std::shared_ptr<AutogradMeta>> inputs;  // null where no grad is needed
  std::vector<Shape> input_shapes;                    // to check what backward returns
  Shape output_shape;
  BackwardFn backward;  // released after use, with everything it saved

  // Frees the chain of earlier records iteratively: a graph 10^5 ops deep would overflow
  // the stack if each record's destructor destroyed the previous one recursively.
  ~Node();
};

// True when ops record to the tape (the default; off inside a NoGradGuard).
bool grad_enabled();

// Nothing is recorded while one of these is alive: evaluation, optimiser updates.
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a record to `output` if recording is on and any input requires a gradient;
// returns `output`. The backward closure must capture only what it needs.
Tensor record_op(std::string op, Tensor output, std::initializer_list<Tensor> inputs,
                 BackwardFn backward);
Tensor record_op(std::string op, Tensor output, const std::vector<Tensor>& inputs,
                 BackwardFn backward);

// Reverse pass from `root` with gradient `seed` (same shape as root).
void run_backward(const Tensor& root, const Tensor& seed);

}  // namespace qkv
