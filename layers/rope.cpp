#include "layers/rope.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"

namespace qkv {
namespace {

// Rotates every pair of every row of `in` by sign * (offset + n) * theta_i into a new tensor.
// The angles are computed in double, so the float build rotates by the same angles.
Tensor rotate_pairs(const Tensor& in, double base, int64_t offset, int sign) {
  const int64_t n = in.size(-2), d = in.size(-1), half = d / 2;
  std::vector<Scalar> cosines(static_cast<size_t>(n * half)), sines(cosines.size());
  for (int64_t pos = 0; pos < n; ++pos)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(pos + offset) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(d));
      cosines[pos * half + i] = static_cast<Scalar>(std::cos(angle));
      sines[pos * half + i] = static_cast<Scalar>(sign * std::sin(angle));
    }
  Tensor out = Tensor::zeros(in.shape());
  const Scalar* x = in.data();
  Scalar* y = out.data();
  const int64_t rows = in.numel() / d;
#pragma omp parallel for if (in.numel() > 32768)
  for (int64_t r = 0; r < rows; ++r) {
    const Scalar* c = cosines.data() + (r % n) * half;
    const Scalar* s = sines.data() + (r % n) * half;
    for (int64_t i = 0; i < half; ++i) {
      const Scalar x0 = x[r * d + 2 * i], x1 = x[r * d + 2 * i + 1];
      y[r * d + 2 * i] = x0 * c[i] - x1 * s[i];
      y[r * d + 2 * i + 1] = x0 * s[i] + x1 * c[i];
    }
  }
  return out;
}

}  // namespace

Tensor rotary_embedding(const Tensor& x, double base, int64_t offset) {
  if (x.dim() < 2 || x.size(-1) % 2 != 0 || x.size(-1) == 0)
    throw std::invalid_argument("rotary_embedding: x must be [.., N, d] with d even and positive, got " +
                                shape_str(x.shape()));
  if (!(base > 1)) throw std::invalid_argument("rotary_embedding: base must be > 1, got " + std::to_string(base));
  Tensor out = rotate_pairs(x, base, offset, +1);
  return record_op("rotary_embedding", out, {x}, [base, offset](const Tensor& g) {
    // y = R x with R a rotation per pair, so dL/dx = R^T g = R^{-1} g: rotate g back.
    return std::vector<Tensor>{rotate_pairs(g, base, offset, -1)};
  });
}

RotaryScorer::RotaryScorer(std::shared_ptr<Scorer> base, double rope_base)
    : base_(register_module("base", std::move(base))), rope_base_(rope_base) {
  if (!(rope_base_ > 1)) throw std::invalid_argument("RotaryScorer: rope_base must be > 1, got " + std::to_string(rope_base_));
}

namespace {
void require_even_width(const Tensor& queries, const Tensor& keys) {
  if (queries.dim() < 2 || keys.dim() < 2 || queries.size(-1) % 2 != 0 || keys.size(-1) % 2 != 0)
    throw std::invalid_argument("RotaryScorer: queries " + shape_str(queries.shape()) + " and keys " +
                                shape_str(keys.shape()) + " must be [.., N, d] with an even width d (RoPE rotates pairs)");
}
}  // namespace

Tensor RotaryScorer::scores(const Tensor& queries, const Tensor& keys) {
  require_even_width(queries, keys);
  return base_->scores(rotary_embedding(queries, rope_base_), rotary_embedding(keys, rope_base_));
}

std::optional<FusedScoring> RotaryScorer::fused(int64_t d_k) const {
  std::optional<FusedScoring> form = base_->fused(d_k);
  if (form) form->prepares_inputs = true;
  return form;
}

std::pair<Tensor, Tensor> RotaryScorer::prepare(const Tensor& queries, const Tensor& keys) {
  require_even_width(queries, keys);
  return base_->prepare(rotary_embedding(queries, rope_base_), rotary_embedding(keys, rope_base_));
}

}  // namespace qkv
