// In the float build gradcheck says plainly that its tolerances can miss errors of a few
// percent, and shows it: a backward 1% wrong passes here (the double build catches it,
// tests/grad/gradcheck_test.cpp).
#include <catch2/catch.hpp>

#include "qkv.h"

using namespace qkv;

TEST_CASE("float gradcheck warns that it can miss a few percent, and does", "[gradcheck]") {
  const auto wrong_cube = [](const std::vector<Tensor>& in) {
    const Tensor x = in[0].detach();
    return record_op("cube", mul(mul(x, x), x), {in[0]}, [x](const Tensor& g) {
      return std::vector<Tensor>{mul(mul(mul(x, x), g), Scalar(3 * 1.01))};
    });
  };
  const GradcheckResult r = gradcheck(wrong_cube, {Tensor::from({0.5, 1.5, -1})});
  CHECK_THAT(r.report(), Catch::Contains("gradcheck in float") && Catch::Contains("WARNING") &&
                             Catch::Contains("qkv::qkv_f64"));
  CHECK(r.passed);  // the point of the warning
}
