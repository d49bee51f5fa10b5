// A first taste of qkv: a two-layer network learns y = sin(x) by gradient descent, and
// the loss it prints falls.
#include <qkv/qkv.h>

#include <cmath>
#include <cstdio>

using namespace qkv;

int main() {
  Generator gen(0);
  Tensor x = Tensor::rand({256, 1}, gen, -3, 3);
  Tensor y = Tensor::empty({256, 1});
  for (int64_t i = 0; i < 256; ++i) y.data()[i] = std::sin(x.data()[i]);

  Tensor w1 = Tensor::randn({1, 32}, gen).requires_grad_();
  Tensor b1 = Tensor::zeros({32}).requires_grad_();
  Tensor w2 = Tensor::randn({32, 1}, gen, 0, 0.2f).requires_grad_();
  Tensor b2 = Tensor::zeros({1}).requires_grad_();
  std::vector<Tensor> params{w1, b1, w2, b2};

  for (int step = 0; step <= 2000; ++step) {
    Tensor hidden = tanh(add(matmul(x, w1), b1));
    Tensor loss = mse_loss(add(matmul(hidden, w2), b2), y);
    for (Tensor& p : params) p.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor& p : params) {
      Tensor g = p.grad();
      for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] -= 0.05f * g.data()[i];
    }
    if (step % 400 == 0) std::printf("step %4d  loss %.5f\n", step, loss.item());
  }
}
