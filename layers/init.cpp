#include "layers/init.h"

#include <cmath>
#include <stdexcept>

namespace qkv {
namespace init {

Fans fans(const Shape& shape) {
  if (shape.empty()) throw std::invalid_argument("init: a scalar has no fan_in or fan_out");
  if (shape.size() == 1) return {shape[0], 1};
  return {shape[shape.size() - 2], shape[shape.size() - 1]};
}

Tensor zeros(const Shape& shape) { return Tensor::zeros(shape); }

Tensor normal(const Shape& shape, Generator& gen, Scalar stddev) { return Tensor::randn(shape, gen, 0, stddev); }

Tensor xavier_uniform(const Shape& shape, Generator& gen, Scalar gain) {
  const Fans f = fans(shape);
  const Scalar a = gain * std::sqrt(Scalar(6) / Scalar(f.in + f.out));
  return Tensor::rand(shape, gen, -a, a);
}

Tensor xavier_normal(const Shape& shape, Generator& gen, Scalar gain) {
  const Fans f = fans(shape);
  return Tensor::randn(shape, gen, 0, gain * std::sqrt(Scalar(2) / Scalar(f.in + f.out)));
}

Tensor kaiming_uniform(const Shape& shape, Generator& gen, Scalar gain) {
  const Scalar b = gain * std::sqrt(Scalar(3) / Scalar(fans(shape).in));
  return Tensor::rand(shape, gen, -b, b);
}

Tensor kaiming_normal(const Shape& shape, Generator& gen, Scalar gain) {
  return Tensor::randn(shape, gen, 0, gain / std::sqrt(Scalar(fans(shape).in)));
}

}  // namespace init

Tensor Init::make(const Shape& shape, Generator& gen) const {
  switch (kind) {
    case Kind::zeros: return init::zeros(shape);
    case Kind::normal: return init::normal(shape, gen, stddev);
    case Kind::xavier_uniform: return init::xavier_uniform(shape, gen, gain);
    case Kind::xavier_normal: return init::xavier_normal(shape, gen, gain);
    case Kind::kaiming_uniform: return init::kaiming_uniform(shape, gen, gain);
    case Kind::kaiming_normal: return init::kaiming_normal(shape, gen, gain);
  }
  throw std::invalid_argument("Init: unknown kind");
}

}  // namespace qkv
