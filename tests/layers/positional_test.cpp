#include <cmath>

#include "test_helpers.h"

using namespace qkv;

TEST_CASE("sinusoidal encoding has Vaswani's values", "[positional]") {
  const Tensor pe = sinusoidal_encoding(3, 4);
  // pos 0: sin 0, cos 0, sin 0, cos 0.
  CHECK_CLOSE(slice(pe, 0, 0, 1), Tensor::from({0, 1, 0, 1}, {1, 4}), 1e-6);
  // pos 1, d = 4: columns 0/1 use 1/10000^0 = 1, columns 2/3 use 1/10000^(2/4) = 0.01:
  // sin 1 = 0.84147098, cos 1 = 0.54030231, sin 0.01 = 0.00999983, cos 0.01 = 0.99995000.
  CHECK_CLOSE(slice(pe, 0, 1, 2), Tensor::from({0.84147098, 0.54030231, 0.00999983, 0.99995000}, {1, 4}), 1e-6);
  // pos 2: sin 2 = 0.90929743, cos 2 = -0.41614684, sin 0.02 = 0.01999867, cos 0.02 = 0.99980001.
  CHECK_CLOSE(slice(pe, 0, 2, 3), Tensor::from({0.90929743, -0.41614684, 0.01999867, 0.99980001}, {1, 4}), 1e-6);
}

TEST_CASE("positional encodings add to every batch entry and reject sequences past max_len", "[positional]") {
  Generator gen(0);
  PositionalEncoding sin_pe(PositionalOptions{.kind = PositionKind::sinusoidal, .max_len = 5, .d_model = 4}, gen);
  const Tensor x = Tensor::zeros({2, 3, 4});
  const Tensor y = sin_pe.forward(x);
  CHECK_CLOSE(slice(y, 0, 1, 2), reshape(sinusoidal_encoding(3, 4), {1, 3, 4}), 1e-6);
  CHECK(sin_pe.parameters().empty());  // fixed, not learned
  CHECK_THROWS_WITH(sin_pe.forward(Tensor::zeros({1, 6, 4})), Catch::Contains("length 6 exceeds max_len 5"));

  PositionalEncoding learned(PositionalOptions{.kind = PositionKind::learned, .max_len = 5, .d_model = 4}, gen);
  REQUIRE(learned.parameters().size() == 1);
  CHECK(learned.parameter("table").shape() == Shape{5, 4});
  CHECK_CLOSE(slice(learned.forward(x), 0, 0, 1), reshape(slice(learned.parameter("table"), 0, 0, 3), {1, 3, 4}), 1e-6);
  CHECK_THROWS_AS(learned.forward(Tensor::zeros({1, 6, 4})), std::invalid_argument);

  PositionalEncoding none(PositionalOptions{.kind = PositionKind::none, .max_len = 5, .d_model = 4}, gen);
  const Tensor r = Tensor::randn({1, 3, 4}, gen);
  CHECK(none.forward(r).to_vector() == r.to_vector());
  CHECK_THROWS_WITH(parse_enum<PositionKind>("rotary", "positional"),
                    Catch::Contains("unknown 'rotary'; valid: none, sinusoidal, learned, rope, alibi"));
}
