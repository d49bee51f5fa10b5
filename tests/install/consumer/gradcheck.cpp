// A user's gradient check against the installed double build (qkv::qkv_f64): a custom op
// whose backward is 1%, 0.1% or 0.01% wrong must fail gradcheck with its default tolerances,
// and the right backward must pass.
#include <qkv/qkv.h>

#include <iostream>
#include <type_traits>

namespace {
// x^3, backward 3 x^2 g (1 + error).
qkv::Tensor cube(const qkv::Tensor& x, double error) {
  const qkv::Tensor v = x.detach();
  return qkv::record_op("cube", qkv::mul(qkv::mul(v, v), v), {x}, [v, error](const qkv::Tensor& g) {
    return std::vector<qkv::Tensor>{qkv::mul(qkv::mul(qkv::mul(v, v), g), qkv::Scalar(3 * (1 + error)))};
  });
}
}  // namespace

int main() {
  static_assert(std::is_same_v<qkv::Scalar, double>, "qkv::qkv_f64 must bring Scalar = double");
  const qkv::Tensor x = qkv::Tensor::from({0.5, -1.25, 2});
  bool ok = qkv::gradcheck([](const auto& in) { return cube(in[0], 0); }, {x}).passed;
  for (double error : {1e-2, 1e-3, 1e-4}) {
    const qkv::GradcheckResult r = qkv::gradcheck([&](const auto& in) { return cube(in[0], error); }, {x});
    if (r.passed) {
      std::cout << "consumer_gradcheck missed a backward wrong by " << error << ":\n" << r.report();
      ok = false;
    }
  }
  std::cout << (ok ? "consumer_gradcheck ok" : "consumer_gradcheck failed") << std::endl;
  return ok ? 0 : 1;
}
