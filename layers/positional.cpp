#include "layers/positional.h"

#include <cmath>
#include <stdexcept>

#include "core/ops.h"

namespace qkv {

Tensor sinusoidal_encoding(int64_t length, int64_t d_model) {
  Tensor pe = Tensor::empty({length, d_model});
  for (int64_t pos = 0; pos < length; ++pos)
    for (int64_t c = 0; c < d_model; ++c) {
      const int64_t two_i = c - c % 2;  // columns 2i and 2i+1 share a frequency
      const double angle = static_cast<double>(pos) / std::pow(10000.0, static_cast<double>(two_i) / d_model);
      pe.data()[pos * d_model + c] = static_cast<Scalar>(c % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return pe;
}

PositionalEncoding::PositionalEncoding(const PositionalOptions& options, Generator& gen) : options_(options) {
  if (options.max_len <= 0 || options.d_model <= 0)
    throw std::invalid_argument("PositionalEncoding: max_len and d_model must be positive, got " +
                                std::to_string(options.max_len) + " and " + std::to_string(options.d_model));
  if (options.kind == PositionKind::sinusoidal) table_ = sinusoidal_encoding(options.max_len, options.d_model);
  if (options.kind == PositionKind::learned)
    table_ = register_parameter("table", options.learned_init.make({options.max_len, options.d_model}, gen));
}

Tensor PositionalEncoding::encoding(int64_t length) const {
  if (length > options_.max_len)
    throw std::invalid_argument("PositionalEncoding: sequence length " + std::to_string(length) +
                                " exceeds max_len " + std::to_string(options_.max_len));
  if (options_.kind != PositionKind::sinusoidal && options_.kind != PositionKind::learned) return Tensor();
  return length == options_.max_len ? table_ : slice(table_, 0, 0, length);
}

Tensor PositionalEncoding::forward(const Tensor& x) {
  if (x.dim() != 3 || x.size(2) != options_.d_model)
    throw std::invalid_argument("PositionalEncoding: input must be [B, N, " + std::to_string(options_.d_model) +
                                "], got " + shape_str(x.shape()));
  const Tensor pe = encoding(x.size(1));
  return pe.defined() ? add(x, pe) : x;
}

}  // namespace qkv
