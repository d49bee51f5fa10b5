// Ops at the edges a randomized sweep found: a thread's part of a tensor starts
// on a vector boundary (same bits on 1 and 2 threads for any length), pow(x, 0)'s gradient
// at 0, shapes whose element count overflows, and errors that name their op.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"

using namespace qkv;

TEST_CASE("elementwise ops give the same bits on 1 and 2 threads for a length that splits off a vector", "[threads]") {
  // 40001 elements: two threads used to split at 20001, where the second thread's part began
  // inside a vector and its first elements took Eigen's scalar path instead of the vector one.
  const int before = num_threads();
  std::vector<Scalar> values(40001);
  for (size_t i = 0; i < values.size(); ++i) values[i] = Scalar(0.5) + Scalar(1e-5) * Scalar(i);
  const Tensor x = Tensor::from(values, {40001});
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops{
      {"exp", [](const Tensor& t) { return exp(t); }},         {"log", [](const Tensor& t) { return log(t); }},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }},       {"sigmoid", [](const Tensor& t) { return sigmoid(t); }},
      {"tanh", [](const Tensor& t) { return tanh(t); }},       {"pow", [](const Tensor& t) { return pow(t, Scalar(1.7)); }}};
  for (const auto& [name, op] : ops) {
    std::vector<std::vector<Scalar>> results;
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      results.push_back(op(x).to_vector());
    }
    INFO(name);
    CHECK(std::memcmp(results[0].data(), results[1].data(), results[0].size() * sizeof(Scalar)) == 0);
  }
  set_num_threads(before);
}

TEST_CASE("pow(x, 0) has gradient 0, also at x = 0", "[ops]") {
  Tensor x = Tensor::from({Scalar(0), Scalar(2), Scalar(-3)}).requires_grad_();
  sum(pow(x, Scalar(0))).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{0, 0, 0});
}

TEST_CASE("a shape with more elements than an int64 counts is refused", "[tensor]") {
  const int64_t huge = (int64_t{1} << 62) + 1;
  CHECK_THROWS_WITH(Tensor::zeros({int64_t{1} << 32, int64_t{1} << 32}),
                    "shape [4294967296, 4294967296] has more elements than an int64 counts");
  CHECK_THROWS_AS(reshape(Tensor::ones({4}), {huge, 4}), std::invalid_argument);
  CHECK_THROWS_AS(expand(Tensor::ones({1, 4}), {huge, 4}), std::invalid_argument);
  CHECK(Tensor::zeros({huge, 0}).numel() == 0);  // a zero axis: no elements, however large the others
}

TEST_CASE("reshape with an axis to infer and mean or var on a missing axis name the op", "[ops]") {
  CHECK_THROWS_WITH(reshape(Tensor::ones({6}), {-1, 4}), Catch::StartsWith("reshape: cannot view shape [6] (6 elements)"));
  CHECK_THROWS_WITH(reshape(Tensor::zeros({0, 3}), {-1, 0}), Catch::StartsWith("reshape: cannot view shape [0, 3]"));
  CHECK_THROWS_WITH(mean(Tensor::ones({5, 4}), 4), Catch::StartsWith("mean: axis 4"));
  CHECK_THROWS_WITH(var(Tensor::ones({5, 4}), -3), Catch::StartsWith("var: axis -3"));
}
