// Parameter initialisers. Every draw comes from an explicit, seeded Generator, so the same
// seed builds the same model. Fans follow qkv's weight layout [in, out] (y = x W): for a
// tensor of rank >= 2 fan_in = shape[-2] and fan_out = shape[-1] (leading axes, such as a
// per-head axis [H, in, out], index independent matrices); a vector [n] counts as [n, 1].
#pragma once

#include "core/generator.h"
#include "core/named_enum.h"
#include "core/tensor.h"

namespace qkv {

namespace init {
struct Fans {
  int64_t in = 0;
  int64_t out = 0;
};
Fans fans(const Shape& shape);

Tensor zeros(const Shape& shape);
Tensor normal(const Shape& shape, Generator& gen, Scalar stddev);
// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio 2010).
Tensor xavier_uniform(const Shape& shape, Generator& gen, Scalar gain = 1);
// N(0, s^2) with s = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal(const Shape& shape, Generator& gen, Scalar gain = 1);
// U(-b, b) with b = gain * sqrt(3 / fan_in) (He et al. 2015); gain sqrt(2) suits ReLU.
Tensor kaiming_uniform(const Shape& shape, Generator& gen, Scalar gain);
// N(0, s^2) with s = gain / sqrt(fan_in).
Tensor kaiming_normal(const Shape& shape, Generator& gen, Scalar gain);
}  // namespace init

// A choice of initialiser that an options struct can hold: `.weight_init = Init::normal(0.02)`.
struct Init {
  enum class Kind { zeros, normal, xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal };
  Kind kind = Kind::xavier_uniform;
  Scalar stddev = 0;  // normal only
  Scalar gain = 1;    // xavier and kaiming

  static Init zeros() { return {Kind::zeros}; }
  static Init normal(Scalar stddev) { return {Kind::normal, stddev}; }
  static Init xavier_uniform(Scalar gain = 1) { return {Kind::xavier_uniform, 0, gain}; }
  static Init xavier_normal(Scalar gain = 1) { return {Kind::xavier_normal, 0, gain}; }
  static Init kaiming_uniform(Scalar gain = Scalar(1.4142135623730951)) { return {Kind::kaiming_uniform, 0, gain}; }
  static Init kaiming_normal(Scalar gain = Scalar(1.4142135623730951)) { return {Kind::kaiming_normal, 0, gain}; }

  Tensor make(const Shape& shape, Generator& gen) const;
};
template <>
struct EnumNames<Init::Kind> {
  static constexpr std::array<std::pair<Init::Kind, std::string_view>, 6> table{
      {{Init::Kind::xavier_uniform, "xavier_uniform"},
       {Init::Kind::xavier_normal, "xavier_normal"},
       {Init::Kind::kaiming_uniform, "kaiming_uniform"},
       {Init::Kind::kaiming_normal, "kaiming_normal"},
       {Init::Kind::normal, "normal"},
       {Init::Kind::zeros, "zeros"}}};
};

}  // namespace qkv
