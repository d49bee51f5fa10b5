// The double build's gradcheck, with its default tolerances, catches a backward that is 1%,
// 0.1% or 0.01% wrong, passes a right one, and says which element decided.
#include <catch2/catch.hpp>

#include "qkv.h"

using namespace qkv;

namespace {
// x^3 with a backward scaled by (1 + error): 3 x^2 g (1 + error).
Tensor cube(const Tensor& x, double error) {
  const Tensor out = mul(mul(x.detach(), x.detach()), x.detach());
  return record_op("cube", out, {x}, [x = x.detach(), error](const Tensor& g) {
    return std::vector<Tensor>{mul(mul(mul(x, x), g), Scalar(3 * (1 + error)))};
  });
}
}  // namespace

TEST_CASE("gradcheck's defaults catch a backward 1%, 0.1% and 0.01% wrong", "[grad][gradcheck]") {
  Generator gen(5);
  const Tensor x = Tensor::randn({5}, gen);
  const GradcheckResult right = gradcheck([](const auto& in) { return cube(in[0], 0); }, {x});
  INFO(right.report());
  CHECK(right.passed);
  for (double error : {1e-2, 1e-3, 1e-4}) {
    INFO("backward wrong by " << error);
    const GradcheckResult wrong = gradcheck([&](const auto& in) { return cube(in[0], error); }, {x});
    INFO(wrong.report());
    CHECK_FALSE(wrong.passed);
  }
}

TEST_CASE("gradcheck's report states the tolerance and the element that decided", "[grad][gradcheck]") {
  const GradcheckResult r = gradcheck([](const auto& in) { return cube(in[0], 1e-2); }, {Tensor::from({0.1, 2, -0.3})});
  // The largest error relative to its tolerance is at x = 2, where 3 x^2 is largest (the
  // gradient is that times gradcheck's random projection, hence the ratio check below).
  CHECK_THAT(r.report(), Catch::Contains("gradcheck in double") && Catch::Contains("1e-07 + 1e-05 |numeric|") &&
                             Catch::Contains("decided by element 1: analytic ") && Catch::Contains("x its tolerance"));
  const TensorDiff& d = r.inputs.at(0);
  CHECK(d.max_rel_error == Approx(0.01).epsilon(1e-4));
  CHECK_THAT(r.report(), !Catch::Contains("WARNING"));
}
