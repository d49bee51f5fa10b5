// Checking gradients and comparing tensors: public helpers, used by qkv's own tests and
// meant for users' tests of their own ops and layers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace qkv {

// The largest difference between two tensors of the same shape, with where it is.
struct TensorDiff {
  bool within_tolerance = true;
  double max_abs_error = 0;  // max |actual - expected|
  double max_rel_error = 0;  // max |actual - expected| / max(|expected|, 1e-12)
  int64_t worst_index = -1;  // flat index of the element furthest outside tolerance
  std::string report;        // one readable line
};
// Elementwise |actual - expected| <= atol + rtol * |expected|. Shapes must agree.
TensorDiff compare(const Tensor& actual, const Tensor& expected, double atol = 1e-6, double rtol = 1e-5);

struct GradcheckOptions {
  // Central-difference step. In the double build 1e-6 leaves errors near 1e-9, so rtol 1e-5
  // catches a backward that is 0.01% wrong (tested from an installed qkv::qkv_f64). The float
  // build needs a coarse step and loose tolerances that can miss errors of a few percent,
  // which is why qkv's gradient tests use the double build, and why the report says so.
  double eps = sizeof(Scalar) == 8 ? 1e-6 : 1e-2;
  double atol = sizeof(Scalar) == 8 ? 1e-7 : 1e-2;
  double rtol = sizeof(Scalar) == 8 ? 1e-5 : 5e-2;
  uint64_t seed = 1234;  // for the random projection of a non-scalar output
};

// analytic against numeric with the options' tolerances, |a - n| <= atol + rtol |n|. The
// report names the element that decided, passed or not: the one with the largest error
// relative to its own tolerance.
TensorDiff compare_gradients(const Tensor& analytic, const Tensor& numeric, const GradcheckOptions& options);
// The first line of a gradcheck report: precision, step and tolerances, and in the float build
// the warning that these tolerances can miss backward errors of a few percent.
std::string gradcheck_settings(const GradcheckOptions& options);

struct GradcheckResult {
  bool passed = true;
  std::vector<TensorDiff> inputs;  // analytic against numeric gradient, one per input
  std::string settings;            // gradcheck_settings() of the options used
  std::string report() const;      // the settings, then one line per input
};

// Compares the gradients that backward() gives for every input of f with central finite
// differences. f may return any shape: the check differentiates sum(f(x) * r) for a fixed
// random r, which exercises every output element. f must be deterministic.
using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;
GradcheckResult gradcheck(const TensorFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace qkv
