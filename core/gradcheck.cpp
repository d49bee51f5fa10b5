#include "core/gradcheck.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"

namespace qkv {

TensorDiff compare(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (actual.shape() != expected.shape())
    throw std::invalid_argument("compare: shapes " + shape_str(actual.shape()) + " and " +
                                shape_str(expected.shape()) + " differ");
  TensorDiff d;
  double worst_excess = -1;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    const double a = actual.data()[i], e = expected.data()[i];
    const double err = std::abs(a - e);
    const bool bad = !(err <= atol + rtol * std::abs(e)) || std::isnan(a) != std::isnan(e);
    d.max_abs_error = std::max(d.max_abs_error, err);
    d.max_rel_error = std::max(d.max_rel_error, err / std::max(std::abs(e), 1e-12));
    const double excess = bad ? err - (atol + rtol * std::abs(e)) : -1;
    if (bad && (d.within_tolerance || excess > worst_excess)) {
      worst_excess = std::isnan(excess) ? INFINITY : excess;
      d.worst_index = i;
    }
    if (bad) d.within_tolerance = false;
  }
  std::ostringstream os;
  os << (d.within_tolerance ? "ok" : "MISMATCH") << " shape " << shape_str(actual.shape())
     << " max abs err " << d.max_abs_error << " max rel err " << d.max_rel_error;
  if (!d.within_tolerance)
    os << "; worst at flat index " << d.worst_index << ": actual " << actual.data()[d.worst_index]
       << " expected " << expected.data()[d.worst_index];
  d.report = os.str();
  return d;
}

TensorDiff compare_gradients(const Tensor& analytic, const Tensor& numeric, const GradcheckOptions& options) {
  TensorDiff d = compare(analytic, numeric, options.atol, options.rtol);
  int64_t deciding = -1;
  double worst_share = -1;  // error / tolerance of the deciding element
  for (int64_t i = 0; i < analytic.numel(); ++i) {
    const double a = analytic.data()[i], n = numeric.data()[i];
    const double share = std::abs(a - n) / (options.atol + options.rtol * std::abs(n));
    if (deciding < 0 || share > worst_share || std::isnan(share)) {
      deciding = i;
      worst_share = std::isnan(share) ? INFINITY : share;
    }
  }
  if (deciding >= 0) {
    std::ostringstream os;
    os << "; decided by element " << deciding << ": analytic " << analytic.data()[deciding] << ", numeric "
       << numeric.data()[deciding] << ", error " << worst_share << " x its tolerance";
    d.report += os.str();
  }
  return d;
}

std::string gradcheck_settings(const GradcheckOptions& options) {
  std::ostringstream os;
  os << "gradcheck in " << (sizeof(Scalar) == 8 ? "double" : "float") << ": central differences with step "
     << options.eps << ", pass when |analytic - numeric| <= " << options.atol << " + " << options.rtol
     << " |numeric|\n";
  if (sizeof(Scalar) != 8)
    os << "WARNING: this is the float build; tolerances this loose can miss a backward that is a few percent "
          "wrong. Link qkv::qkv_f64 for a check that catches 0.01% (README, Using qkv from your own project).\n";
  return os.str();
}

std::string GradcheckResult::report() const {
  std::ostringstream os;
  os << settings;
  for (size_t i = 0; i < inputs.size(); ++i) os << "input " << i << ": " << inputs[i].report << "\n";
  return os.str();
}

GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Tensor> leaves;
  for (const Tensor& x : inputs) leaves.push_back(x.clone().requires_grad_(true));

  Tensor out = f(leaves);
  Generator gen(options.seed);
  const Tensor projection = Tensor::randn(out.shape(), gen);
  sum(mul(out, projection)).backward();

  GradcheckResult result;
  result.settings = gradcheck_settings(options);
  for (size_t k = 0; k < leaves.size(); ++k) {
    Tensor analytic = leaves[k].grad().defined() ? leaves[k].grad() : Tensor::zeros(leaves[k].shape());
    Tensor numeric = Tensor::zeros(leaves[k].shape());
    NoGradGuard no_grad;
    for (int64_t i = 0; i < leaves[k].numel(); ++i) {
      Scalar* x = leaves[k].data() + i;
      const Scalar original = *x;
      *x = static_cast<Scalar>(original + options.eps);
      const double plus = sum(mul(f(leaves), projection)).item();
      *x = static_cast<Scalar>(original - options.eps);
      const double minus = sum(mul(f(leaves), projection)).item();
      *x = original;
      numeric.data()[i] = static_cast<Scalar>((plus - minus) / (2 * options.eps));
    }
    result.inputs.push_back(compare_gradients(analytic, numeric, options));
    result.passed = result.passed && result.inputs.back().within_tolerance;
  }
  return result;
}

}  // namespace qkv
