// Writing your own differentiable op: swish(x) = x * sigmoid(x), with a hand-written
// backward registered through record_op, the same door every built-in op uses; then
// gradcheck compares that backward with finite differences.
#include <qkv/qkv.h>

#include <cmath>
#include <iostream>

using namespace qkv;

Tensor swish(const Tensor& x) {
  // Forward: plain loops over the buffer (a real op would use Eigen, as core/ops does).
  Tensor out = Tensor::empty(x.shape());
  Tensor sig = Tensor::empty(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    sig.data()[i] = 1 / (1 + std::exp(-x.data()[i]));
    out.data()[i] = x.data()[i] * sig.data()[i];
  }
  // Backward keeps what it reads: the input and sigmoid(x).
  return record_op("swish", out, {x}, [x = x.detach(), sig](const Tensor& grad_out) {
    // d/dx x*s(x) = s(x) + x*s(x)*(1 - s(x))
    Tensor grad_in = Tensor::empty(x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
      const Scalar s = sig.data()[i];
      grad_in.data()[i] = grad_out.data()[i] * (s + x.data()[i] * s * (1 - s));
    }
    return std::vector<Tensor>{grad_in};
  });
}

int main() {
  Generator gen(0);
  Tensor x = Tensor::randn({3, 4}, gen);
  // In this float build finite differences need a coarse step; qkv's own tests run
  // gradcheck in the double build.
  GradcheckResult result = gradcheck([](const std::vector<Tensor>& in) { return swish(in[0]); }, {x});
  std::cout << "swish(1) = " << swish(Tensor::from({1})).item() << " (expected 1/(1+e^-1) = 0.731059)\n";
  std::cout << "gradcheck of swish:\n" << result.report();
  std::cout << (result.passed ? "PASSED" : "FAILED") << std::endl;
  return result.passed ? 0 : 1;
}
