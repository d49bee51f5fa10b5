// A user's program built against the installed qkv: one gradient, checked.
#include <qkv.h>

#include <cmath>
#include <iostream>

int main() {
  qkv::Tensor x = qkv::Tensor::from({1, 2, 3}).requires_grad_();
  qkv::sum(qkv::mul(x, x)).backward();  // d/dx sum(x^2) = 2x
  const bool ok = std::abs(x.grad().at({2}) - 6) < 1e-6;
  std::cout << (ok ? "consumer ok" : "consumer wrong gradient") << std::endl;
  return ok ? 0 : 1;
}
