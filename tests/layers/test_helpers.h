// Small helpers shared by the layers tests.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "qkv.h"

// Writes values into a module's parameter (by dotted name); shapes must agree in size.
inline void set_parameter(qkv::Module& m, const std::string& name, const std::vector<double>& values) {
  qkv::Tensor p = m.parameter(name);
  REQUIRE(static_cast<int64_t>(values.size()) == p.numel());
  for (size_t i = 0; i < values.size(); ++i) p.data()[i] = static_cast<qkv::Scalar>(values[i]);
}

inline qkv::Tensor tensor_of(const std::vector<double>& values, const qkv::Shape& shape) {
  return qkv::Tensor::from(std::vector<qkv::Scalar>(values.begin(), values.end()), shape);
}

// Rows of x [B, N, d] reordered: out[:, i] = x[:, order[i]].
inline qkv::Tensor permute_rows(const qkv::Tensor& x, const std::vector<int64_t>& order) {
  std::vector<qkv::Tensor> rows;
  for (int64_t i : order) rows.push_back(qkv::slice(x, 1, i, i + 1));
  return qkv::concat(rows, 1);
}

#define CHECK_CLOSE(actual, expected, tol)                        \
  do {                                                            \
    const qkv::TensorDiff diff_ = qkv::compare(actual, expected, tol, tol); \
    INFO(diff_.report);                                           \
    CHECK(diff_.within_tolerance);                                \
  } while (0)
