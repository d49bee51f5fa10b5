// One expression crossing most op families, compared in double with PyTorch's float64
// values from tests/reference/core_reference.py (committed with its output JSON).
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "qkv.h"

using namespace qkv;

namespace {
Tensor filled(const Shape& shape, auto fn) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = fn(static_cast<double>(i));
  return t;
}
Tensor from_json(const nlohmann::json& values, const Shape& shape) {
  return Tensor::from(values.get<std::vector<Scalar>>(), shape);
}
}  // namespace

TEST_CASE("an expression over most op families matches PyTorch (float64)", "[grad][reference]") {
  std::ifstream file(QKV_SOURCE_DIR "/tests/reference/core_reference.json");
  REQUIRE(file.good());
  const nlohmann::json ref = nlohmann::json::parse(file);

  Tensor x = filled({2, 3, 4}, [](double i) { return std::sin(0.37 * i + 0.1); }).requires_grad_();
  Tensor w = filled({4, 5}, [](double i) { return std::cos(0.11 * i) * 0.8; }).requires_grad_();
  Tensor b = filled({5}, [](double i) { return 0.1 * i - 0.2; }).requires_grad_();
  Indices targets = Indices::from({0, 3, 1, 4, 2, 0}, {2, 3});

  Tensor scores = matmul(x, x, {.transpose_b = true}) / std::sqrt(Scalar(4));
  Tensor mask = Tensor::from({0, 0, 1, 0, 0, 0, 0, 1, 0}, {3, 3});
  Tensor weights = softmax(masked_fill(scores, mask, -INFINITY));
  Tensor mixed = matmul(weights, x);
  Tensor centered = mixed - mean(mixed, -1, true);
  Tensor normed = centered / sqrt(var(mixed, -1, true) + Scalar(1e-5));
  Tensor hidden = gelu(matmul(normed, w) + b);
  Tensor logits = tanh(hidden) * Scalar(2) + pow(sigmoid(hidden), 2);
  Tensor ce = cross_entropy(logits, targets);
  Tensor reg = mean(exp(-abs(hidden)) * log(clamp(hidden, -0.5, 0.5) + Scalar(1.6)));
  Tensor loss = ce + reg + sum(max(log_softmax(logits), -1)) * Scalar(0.01);
  loss.backward();

  CHECK(loss.item() == Approx(ref["loss"].get<double>()).epsilon(1e-12));
  for (auto [name, tensor] : {std::pair{"grad_x", x}, std::pair{"grad_w", w}, std::pair{"grad_b", b}}) {
    TensorDiff d = compare(tensor.grad(), from_json(ref[name], tensor.shape()), 1e-10, 1e-9);
    INFO(name << ": " << d.report);
    CHECK(d.within_tolerance);
  }
}
