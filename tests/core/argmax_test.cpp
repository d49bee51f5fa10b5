#include <catch2/catch.hpp>

#include "qkv.h"

using namespace qkv;

TEST_CASE("argmax: the first largest position along any axis, with or without keepdim", "[ops]") {
  // [2, 3]: rows (1, 5, 5) and (7, -2, 0).
  const Tensor x = Tensor::from({1, 5, 5, 7, -2, 0}, {2, 3});
  const Indices rows = argmax(x);
  CHECK(rows.shape == Shape{2});
  CHECK(rows.values == std::vector<int64_t>{1, 0});  // a tie goes to the first
  const Indices columns = argmax(x, 0, /*keepdim=*/true);
  CHECK(columns.shape == Shape{1, 3});
  CHECK(columns.values == std::vector<int64_t>{1, 0, 0});
  // It agrees with max: the value at the argmax is the max.
  const Tensor m = max(x, 0);
  for (int64_t j = 0; j < 3; ++j) CHECK(x.at({columns.values[j], j}) == m.at({j}));
  CHECK_THROWS_WITH(argmax(Tensor::zeros({2, 0})), Catch::Contains("argmax: axis -1 of shape [2, 0] is empty"));
  CHECK_THROWS(argmax(x, 2));
}
