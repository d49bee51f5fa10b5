#include "layers/gradcheck_module.h"

#include <sstream>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"

namespace qkv {

std::string ModuleGradcheckResult::report() const {
  std::ostringstream os;
  os << settings;
  for (const auto& [name, diff] : checked) os << name << ": " << diff.report << "\n";
  return os.str();
}

ModuleGradcheckResult gradcheck_module(Module& module, const TensorFunction& f, const std::vector<Tensor>& inputs,
                                       const GradcheckOptions& options) {
  std::vector<std::pair<std::string, Tensor>> tensors;  // every tensor to perturb, inputs first
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < inputs.size(); ++i) {
    leaves.push_back(inputs[i].clone().requires_grad_(true));
    tensors.emplace_back("input " + std::to_string(i), leaves.back());
  }
  for (auto& [name, p] : module.named_parameters()) tensors.emplace_back("param " + name, p);

  // The analytic gradients of sum(f(x) * r) for a fixed random r.
  module.zero_grad();
  const Tensor out = f(leaves);
  Generator gen(options.seed);
  const Tensor projection = Tensor::randn(out.shape(), gen);
  sum(mul(out, projection)).backward();

  ModuleGradcheckResult result;
  result.settings = gradcheck_settings(options);
  NoGradGuard no_grad;
  const auto loss = [&] { return static_cast<double>(sum(mul(f(leaves), projection)).item()); };
  for (auto& [name, t] : tensors) {
    const Tensor analytic = t.grad().defined() ? t.grad().clone() : Tensor::zeros(t.shape());
    Tensor numeric = Tensor::zeros(t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) {
      Scalar* x = t.data() + i;
      const Scalar original = *x;
      *x = static_cast<Scalar>(original + options.eps);
      const double plus = loss();
      *x = static_cast<Scalar>(original - options.eps);
      const double minus = loss();
      *x = original;
      numeric.data()[i] = static_cast<Scalar>((plus - minus) / (2 * options.eps));
    }
    result.checked.emplace_back(name, compare_gradients(analytic, numeric, options));
    result.passed = result.passed && result.checked.back().second.within_tolerance;
  }
  module.zero_grad();
  return result;
}

}  // namespace qkv
