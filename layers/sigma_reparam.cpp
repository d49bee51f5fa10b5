#include "layers/sigma_reparam.h"

#include <cmath>
#include <memory>
#include <stdexcept>

#include "core/autograd.h"
#include "core/ops.h"

namespace qkv {
namespace {
// x / |x| in place; a zero vector (a zero weight) stays zero rather than turning NaN.
void normalize(std::vector<double>& x) {
  double norm = 0;
  for (double e : x) norm += e * e;
  norm = std::sqrt(norm);
  if (norm > 0)
    for (double& e : x) e /= norm;
}

// Enough for sigma to settle to ~1e-7 relative on the layers of this library; the loop
// stops earlier once it has.
constexpr int kResetIterations = 200;
}  // namespace

SigmaReparam::SigmaReparam(Tensor weight) : weight_(std::move(weight)) {
  if (weight_.dim() != 2)
    throw std::invalid_argument("SigmaReparam: the weight must be a matrix [in, out], got " + shape_str(weight_.shape()));
  const int64_t in = weight_.size(0), out = weight_.size(1);
  // A fixed start rather than a random draw: turning σReparam on then draws nothing from the
  // generator, so with and without it a seed starts from the same weights.
  u_ = register_buffer("u", Tensor::full({in}, static_cast<Scalar>(1 / std::sqrt(static_cast<double>(in)))));
  v_ = register_buffer("v", Tensor::zeros({out}));
  gamma_ = register_parameter("gamma", Tensor::ones({1}));
  reset();
}

void SigmaReparam::power_step() {
  const int64_t in = weight_.size(0), out = weight_.size(1);
  const Scalar* w = weight_.data();
  Scalar* u = u_.data();
  Scalar* v = v_.data();
  // v = W^T u / |W^T u|, then u = W v / |W v| (W is [in, out], row i at w + i * out).
  std::vector<double> next_v(out, 0.0), next_u(in, 0.0);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < out; ++j) next_v[j] += static_cast<double>(w[i * out + j]) * u[i];
  normalize(next_v);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < out; ++j) next_u[i] += static_cast<double>(w[i * out + j]) * next_v[j];
  normalize(next_u);
  for (int64_t j = 0; j < out; ++j) v[j] = static_cast<Scalar>(next_v[j]);
  for (int64_t i = 0; i < in; ++i) u[i] = static_cast<Scalar>(next_u[i]);
}

double SigmaReparam::sigma() const {
  const int64_t in = weight_.size(0), out = weight_.size(1);
  double s = 0;
  for (int64_t i = 0; i < in; ++i)
    for (int64_t j = 0; j < out; ++j)
      s += static_cast<double>(u_.data()[i]) * weight_.data()[i * out + j] * v_.data()[j];
  return s;
}

void SigmaReparam::reset() {
  double previous = 0;
  for (int k = 0; k < kResetIterations; ++k) {
    power_step();
    const double s = sigma();
    if (std::abs(s - previous) <= 1e-9 * std::abs(s)) break;
    previous = s;
  }
  gamma_.data()[0] = static_cast<Scalar>(sigma());
}

Tensor SigmaReparam::reparametrized() {
  if (is_training()) power_step();
  // sigma = u^T W v: u and v are constants of this step (buffers, no gradient), W is not.
  const Tensor sigma = sum(mul(matmul(reshape(u_, {1, -1}), weight_), reshape(v_, {1, -1})));
  return mul(weight_, div(gamma_, sigma));
}

void reset_sigma_reparams(Module& model) {
  if (auto* reparam = dynamic_cast<SigmaReparam*>(&model)) reparam->reset();
  for (auto& [_, child] : model.children()) reset_sigma_reparams(*child);
}

}  // namespace qkv
