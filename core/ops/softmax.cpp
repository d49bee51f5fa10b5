// Softmax and log-softmax along the last axis, row by row with Eigen, each with its fused
// backward. Subtracting the row max keeps exp() finite for logits of any size.
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/ops/kernels.h"

namespace qkv {
namespace {
using kernels::kNegInf;

struct Rows {
  int64_t count, len;
};
Rows rows_of(const Tensor& x, const char* op) {
  if (x.dim() == 0) throw std::invalid_argument(std::string(op) + ": needs rank >= 1, got a scalar");
  const int64_t len = x.size(-1);
  return {len ? x.numel() / len : 0, len};
}

// y = 0 wherever x is -inf. The test for any -inf is a vectorised min (Eigen's any() over
// a comparison runs one element at a time: it was half of softmax's time).
template <class In, class Out>
void zero_where_masked(const In& x, Out& y) {
  if (x.minCoeff() == kNegInf)
    for (int64_t i = 0; i < x.size(); ++i)
      if (x[i] == kNegInf) y[i] = 0;
}

// Row r of t as an Eigen array segment.
auto row(const Tensor& t, int64_t r, int64_t len) { return kernels::ConstArrayMap(t.data() + r * len, len); }
auto row(Tensor& t, int64_t r, int64_t len) { return kernels::ArrayMap(t.data() + r * len, len); }
}  // namespace

Tensor softmax(const Tensor& x) {
  const Rows rows = rows_of(x, "softmax");
  Tensor out = Tensor::empty(x.shape());
  parallel_for(rows.count, rows.len * 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      auto in = row(x, r, rows.len);
      auto y = row(out, r, rows.len);
      const Scalar m = in.maxCoeff();
      if (m == kNegInf) {  // every key masked: no distribution to form, so all weights 0
        y.setZero();
        continue;
      }
      // Eigen's vectorised exp maps -inf to a tiny positive number (it clamps its input),
      // so masked entries are set to exactly 0 afterwards. (Not with select(), which Eigen
      // 3.4 does not vectorise: exp would run one element at a time.)
      y = (in - m).exp();
      zero_where_masked(in, y);
      y *= 1 / y.sum();  // one division per row: a vector division per element costs more
    }
  });
  return record_op("softmax", out, {x}, [y = kernels::saved(out), rows](const Tensor& g) {
    // In the forward pass y = softmax(x); dx = y * (g - <g, y>) row by row.
    Tensor gx = Tensor::empty(y.shape());
    parallel_for(rows.count, rows.len * 4, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        auto yr = row(y, r, rows.len);
        auto gr = row(g, r, rows.len);
        row(gx, r, rows.len) = yr * (gr - (gr * yr).sum());
      }
    });
    return std::vector<Tensor>{gx};
  });
}

Tensor log_softmax(const Tensor& x) {
  const Rows rows = rows_of(x, "log_softmax");
  Tensor out = Tensor::empty(x.shape());
  parallel_for(rows.count, rows.len * 8, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      auto in = row(x, r, rows.len);
      auto y = row(out, r, rows.len);
      const Scalar m = in.maxCoeff();
      if (m == kNegInf) {
        y.setConstant(kNegInf);
        continue;
      }
      y = in - (m + std::log((in - m).exp().sum()));
    }
  });
  return record_op("log_softmax", out, {x}, [y = kernels::saved(out), rows](const Tensor& g) {
    // In the forward pass y = x - logsumexp(x); dx = g - softmax(x) * sum(g) = g - exp(y) sum(g).
    Tensor gx = Tensor::empty(y.shape());
    for (int64_t r = 0; r < rows.count; ++r) {
      auto yr = row(y, r, rows.len);
      auto gr = row(g, r, rows.len);
      if (yr.maxCoeff() == kNegInf) row(gx, r, rows.len).setZero();
      else row(gx, r, rows.len) = gr - yr.exp() * gr.sum();
    }
    return std::vector<Tensor>{gx};
  });
}

}  // namespace qkv
