#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>

#include "qkv.h"

using namespace qkv;

TEST_CASE("creation fills shapes and values", "[tensor]") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.numel() == 6);
  CHECK(z.at({1, 2}) == 0);
  CHECK(Tensor::ones({4}).at({3}) == 1);
  CHECK(Tensor::full({2}, 7).at({1}) == 7);
  Tensor a = Tensor::arange(5);
  CHECK(a.to_vector() == std::vector<Scalar>{0, 1, 2, 3, 4});
  Tensor f = Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(f.at({1, 0}) == 4);
  CHECK_THROWS_WITH(Tensor::from({1, 2, 3}, {2, 2}), Catch::Contains("do not fill shape [2, 2]"));
}

TEST_CASE("seeded random draws repeat exactly and have the asked moments", "[tensor]") {
  Generator g1(42), g2(42), g3(43);
  Tensor a = Tensor::randn({1000}, g1);
  Tensor b = Tensor::randn({1000}, g2);
  Tensor c = Tensor::randn({1000}, g3);
  CHECK(a.to_vector() == b.to_vector());
  CHECK(a.to_vector() != c.to_vector());
  Generator g(7);
  Tensor n = Tensor::randn({20000}, g, 2, 3);
  CHECK(mean(n).item() == Approx(2).margin(0.1));
  CHECK(std::sqrt(var(n, 0).item()) == Approx(3).margin(0.1));
  Tensor u = Tensor::rand({20000}, g, -1, 1);
  CHECK(mean(u).item() == Approx(0).margin(0.03));
  for (Scalar v : u.to_vector()) REQUIRE((v >= -1 && v < 1));
}

TEST_CASE("generator state round-trips", "[tensor]") {
  Generator g(5);
  g.normal();
  auto state = g.state();
  const double next = g.normal();
  Generator h(0);
  h.set_state(state);
  CHECK(h.normal() == next);
}

TEST_CASE("element access is bounds-checked", "[tensor]") {
  Tensor t = Tensor::zeros({2, 3});
  CHECK_THROWS_AS(t.at({2, 0}), std::out_of_range);
  CHECK_THROWS_WITH(t.at({0, 3}), Catch::Contains("out of range for axis 1 of shape [2, 3]"));
  CHECK_THROWS_AS(t.at({0}), std::out_of_range);
  CHECK_THROWS_AS(t.size(2), std::out_of_range);
  CHECK_THROWS_AS(t.item(), std::invalid_argument);
}

TEST_CASE("reshape of contiguous data is a view sharing storage", "[tensor]") {
  Tensor t = Tensor::arange(6);
  Tensor v = reshape(t, {2, -1});
  CHECK(v.shape() == Shape{2, 3});
  CHECK(v.same_storage(t));
  t.set({4}, 40);
  CHECK(v.at({1, 1}) == 40);
  CHECK(unsqueeze(t, 0).same_storage(t));
  CHECK_THROWS_WITH(reshape(t, {4, 2}), Catch::Contains("cannot view shape [6]"));
}

TEST_CASE("printing shows shape and values", "[tensor]") {
  std::ostringstream os;
  os << Tensor::from({1, 2, 3}, {3});
  CHECK(os.str() == "Tensor(shape=[3], values=[1, 2, 3])");
  std::ostringstream big;
  big << Tensor::arange(100);
  CHECK_THAT(big.str(), Catch::Contains("...") && Catch::Contains("99"));
}
