// Elementwise ops. Each forward is one Eigen array expression; its backward sits right
// below it and keeps only what it reads (the output for exp/tanh/sigmoid/sqrt, the input
// for log/abs/relu/gelu/clamp/pow).
#include <cmath>
#include <numbers>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
using kernels::map_elements;
using kernels::saved;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      throw std::invalid_argument(std::string(op) + ": shapes " + shape_str(a) + " and " +
                                  shape_str(b) + " cannot be broadcast together");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t extra = grad.dim() - static_cast<int64_t>(shape.size());
  if (extra < 0)
    throw std::invalid_argument("sum_to: cannot reduce shape " + shape_str(grad.shape()) +
                                " to the larger rank of " + shape_str(shape));
  Tensor g = grad;
  for (int64_t i = 0; i < extra; ++i) g = sum(g, 0);
  for (int64_t i = 0; i < static_cast<int64_t>(shape.size()); ++i)
    if (shape[i] == 1 && g.shape()[i] != 1) g = sum(g, i, /*keepdim=*/true);
  if (g.shape() != shape)
    throw std::invalid_argument("sum_to: shape " + shape_str(grad.shape()) +
                                " does not broadcast to " + shape_str(shape));
  return g;
}

// ---- binary, broadcasting ----

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::broadcast_binary(a, b, "add", [](const auto& x, const auto& y) { return x + y; });
  return record_op("add", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::broadcast_binary(a, b, "sub", [](const auto& x, const auto& y) { return x - y; });
  return record_op("sub", out, {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::broadcast_binary(a, b, "mul", [](const auto& x, const auto& y) { return x * y; });
  // Only the gradients that are needed: sum(out * G) against a constant G is a common loss.
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  return record_op("mul", out, {a, b}, [a = saved(a), b = saved(b), need_a, need_b](const Tensor& g) {
    return std::vector<Tensor>{need_a ? sum_to(mul(g, b), a.shape()) : Tensor(),
                               need_b ? sum_to(mul(g, a), b.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = kernels::broadcast_binary(a, b, "div", [](const auto& x, const auto& y) { return x / y; });
  return record_op("div", out, {a, b}, [b = saved(b), out = saved(out), sa = a.shape()](const Tensor& g) {
    // d(a/b)/da = 1/b; d(a/b)/db = -a/b^2 = -out/b.
    Tensor ga = div(g, b);
    return std::vector<Tensor>{sum_to(ga, sa), sum_to(neg(mul(ga, out)), b.shape())};
  });
}

// ---- with a scalar ----

Tensor add(const Tensor& a, Scalar b) {
  Tensor out = map_elements([b](const auto& x) { return x + b; }, a);
  return record_op("add_scalar", out, {a}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor mul(const Tensor& a, Scalar b) {
  Tensor out = map_elements([b](const auto& x) { return x * b; }, a);
  return record_op("mul_scalar", out, {a}, [b](const Tensor& g) { return std::vector<Tensor>{mul(g, b)}; });
}

Tensor rsub(Scalar a, const Tensor& b) {
  Tensor out = map_elements([a](const auto& x) { return a - x; }, b);
  return record_op("rsub_scalar", out, {b}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

Tensor rdiv(Scalar a, const Tensor& b) {
  Tensor out = map_elements([a](const auto& x) { return a / x; }, b);
  return record_op("rdiv_scalar", out, {b}, [b = saved(b), out = saved(out)](const Tensor& g) {
    // d(a/b)/db = -a/b^2 = -out/b
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& y, const auto& x) { return -g * y / x; }, g, out, b)};
  });
}

Tensor neg(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return -v; }, x);
  return record_op("neg", out, {x}, [](const Tensor& g) { return std::vector<Tensor>{neg(g)}; });
}

// ---- unary ----

Tensor pow(const Tensor& x, Scalar p) {
  Tensor out = map_elements([p](const auto& v) { return v.pow(p); }, x);
  return record_op("pow", out, {x}, [x = saved(x), p](const Tensor& g) {
    // x^0 is constant: its derivative is 0 everywhere, also at x = 0 where p x^(p-1) is 0 * inf.
    if (p == 0) return std::vector<Tensor>{Tensor::zeros(x.shape())};
    return std::vector<Tensor>{map_elements([p](const auto& g, const auto& v) { return g * p * v.pow(p - 1); }, g, x)};
  });
}

Tensor sqrt(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.sqrt(); }, x);
  return record_op("sqrt", out, {x}, [y = saved(out)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& y) { return g * Scalar(0.5) / y; }, g, y)};
  });
}

Tensor exp(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.exp(); }, x);
  return record_op("exp", out, {x}, [y = saved(out)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& y) { return g * y; }, g, y)};
  });
}

Tensor log(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.log(); }, x);
  return record_op("log", out, {x}, [x = saved(x)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& v) { return g / v; }, g, x)};
  });
}

Tensor abs(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.abs(); }, x);
  return record_op("abs", out, {x}, [x = saved(x)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& v) { return g * v.sign(); }, g, x)};
  });
}

Tensor tanh(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.tanh(); }, x);
  return record_op("tanh", out, {x}, [y = saved(out)](const Tensor& g) {
    // in the forward pass y = tanh(x), and tanh' = 1 - tanh^2
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& y) { return g * (1 - y.square()); }, g, y)};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return Scalar(1) / (Scalar(1) + (-v).exp()); }, x);
  return record_op("sigmoid", out, {x}, [y = saved(out)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& y) { return g * y * (1 - y); }, g, y)};
  });
}

Tensor relu(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v.max(Scalar(0)); }, x);
  return record_op("relu", out, {x}, [x = saved(x)](const Tensor& g) {
    return std::vector<Tensor>{map_elements([](const auto& g, const auto& v) { return (v > 0).select(g, Scalar(0)); }, g, x)};
  });
}

namespace {
Scalar normal_cdf(Scalar v) { return Scalar(0.5) * (1 + std::erf(v / std::numbers::sqrt2_v<Scalar>)); }
}  // namespace

Tensor gelu(const Tensor& x) {
  Tensor out = map_elements([](const auto& v) { return v * v.unaryExpr(&normal_cdf); }, x);
  return record_op("gelu", out, {x}, [x = saved(x)](const Tensor& g) {
    // d/dx x*Phi(x) = Phi(x) + x*phi(x), phi the standard normal density
    const Scalar inv_sqrt_2pi = std::numbers::inv_sqrtpi_v<Scalar> / std::numbers::sqrt2_v<Scalar>;
    return std::vector<Tensor>{map_elements(
        [inv_sqrt_2pi](const auto& g, const auto& v) {
          return g * (v.unaryExpr(&normal_cdf) + v * inv_sqrt_2pi * (Scalar(-0.5) * v.square()).exp());
        },
        g, x)};
  });
}

Tensor clamp(const Tensor& x, Scalar low, Scalar high) {
  if (low > high)
    throw std::invalid_argument("clamp: low " + std::to_string(low) + " exceeds high " + std::to_string(high));
  Tensor out = map_elements([low, high](const auto& v) { return v.max(low).min(high); }, x);
  return record_op("clamp", out, {x}, [x = saved(x), low, high](const Tensor& g) {
    return std::vector<Tensor>{map_elements(
        [low, high](const auto& g, const auto& v) { return (v >= low && v <= high).select(g, Scalar(0)); }, g, x)};
  });
}

}  // namespace qkv
