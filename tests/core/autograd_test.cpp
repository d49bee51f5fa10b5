#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <unistd.h>

#include "qkv.h"

using namespace qkv;

TEST_CASE("gradients accumulate across backward calls until zeroed", "[autograd]") {
  Tensor x = Tensor::from({1, 2}).requires_grad_();
  sum(mul(x, x)).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{2, 4});
  sum(mul(x, x)).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{4, 8});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
  sum(x).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{1, 1});
}

TEST_CASE("a tensor used twice receives both contributions", "[autograd]") {
  Tensor x = Tensor::from({3}).requires_grad_();
  Tensor y = add(mul(x, x), exp(x));  // dy/dx = 2x + e^x
  y.backward();
  CHECK(x.grad().item() == Approx(6 + std::exp(3.0f)));
}

TEST_CASE("no-grad scope records nothing, detach cuts history", "[autograd]") {
  Tensor x = Tensor::from({1, 2}).requires_grad_();
  {
    NoGradGuard guard;
    Tensor y = mul(x, x);
    CHECK_FALSE(y.requires_grad());
    CHECK(y.is_leaf());
  }
  CHECK(grad_enabled());
  Tensor d = mul(x, x).detach();
  CHECK_FALSE(d.requires_grad());
  Tensor z = mul(d, x);
  sum(z).backward();
  CHECK(x.grad().to_vector() == std::vector<Scalar>{1, 4});  // d treated as a constant
}

TEST_CASE("retain_grad keeps the gradient of an intermediate", "[autograd]") {
  Tensor x = Tensor::from({1, 2, 3}).requires_grad_();
  Tensor s = mul(x, Scalar(2));
  s.retain_grad();
  sum(mul(s, s)).backward();
  CHECK(s.grad().to_vector() == std::vector<Scalar>{4, 8, 12});  // d(s^2)/ds = 2s
}

TEST_CASE("misuse gives clear errors, never a crash", "[autograd]") {
  Tensor x = Tensor::from({1, 2}).requires_grad_();
  Tensor y = mul(x, x);
  CHECK_THROWS_WITH(y.backward(), Catch::Contains("non-scalar needs an explicit seed"));
  CHECK_THROWS_WITH(y.backward(Tensor::ones({3})), Catch::Contains("seed shape [3]"));
  Tensor loss = sum(y);
  loss.backward();
  CHECK_THROWS_WITH(loss.backward(), Catch::Contains("already consumed"));
  CHECK_THROWS_WITH(sum(Tensor::ones({2})).backward(), Catch::Contains("does not require grad"));
  CHECK_THROWS_WITH(add(Tensor::zeros({2, 3}), Tensor::zeros({4})),
                    Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  CHECK_THROWS_WITH(mul(Tensor::zeros({2}), Tensor::zeros({3})), Catch::Contains("mul: shapes [2] and [3]"));
  CHECK_THROWS_AS(sum(Tensor::zeros({2, 3}), 2), std::out_of_range);
  CHECK_THROWS_AS(Tensor().shape(), std::logic_error);
  CHECK_THROWS_AS(y.requires_grad_(false), std::logic_error);
}

TEST_CASE("backward over a very deep graph does not recurse", "[autograd]") {
  Tensor x = Tensor::from({1}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 200000; ++i) y = add(y, Scalar(0));
  y.backward(Tensor::ones({1}));
  CHECK(x.grad().item() == 1);
}

TEST_CASE("seeded backward of a non-scalar", "[autograd]") {
  Tensor x = Tensor::from({1, 2, 3}).requires_grad_();
  Tensor y = mul(x, Scalar(3));
  y.backward(Tensor::from({1, 0, 2}));
  CHECK(x.grad().to_vector() == std::vector<Scalar>{3, 0, 6});
}

TEST_CASE("gradcheck catches a wrong backward", "[autograd]") {
  // A custom op whose backward is off by a factor of 2 must fail the check.
  auto wrong_square = [](const Tensor& x) {
    Tensor out = Tensor::from_buffer(x.data(), x.shape());
    for (int64_t i = 0; i < out.numel(); ++i) out.data()[i] *= x.data()[i];
    return record_op("wrong_square", out, {x}, [x = x.detach()](const Tensor& g) {
      return std::vector<Tensor>{mul(g, x)};  // should be 2 g x
    });
  };
  Generator gen(1);
  GradcheckResult r = gradcheck([&](auto& in) { return wrong_square(in[0]); }, {Tensor::randn({4}, gen)});
  CHECK_FALSE(r.passed);
  CHECK_THAT(r.report(), Catch::Contains("MISMATCH"));
}

TEST_CASE("compare reports the largest difference", "[autograd]") {
  TensorDiff d = compare(Tensor::from({1, 2, 3}), Tensor::from({1, 2.5, 3}), 1e-3, 0);
  CHECK_FALSE(d.within_tolerance);
  CHECK(d.worst_index == 1);
  CHECK(d.max_abs_error == Approx(0.5));
  CHECK(compare(Tensor::from({1}), Tensor::from({1 + 1e-7}), 1e-6, 0).within_tolerance);
}

TEST_CASE("results for 1 and 2 threads agree", "[threads]") {
  const int before = num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Generator gen(11);
    Tensor a = Tensor::randn({4, 8, 64, 32}, gen).requires_grad_();
    Tensor b = Tensor::randn({4, 8, 32, 64}, gen).requires_grad_();
    Tensor big = Tensor::randn({300000}, gen).requires_grad_();
    Tensor s = softmax(matmul(a, b));
    Tensor loss = add(sum(mul(s, s)), sum(tanh(big)));
    loss.backward();
    return std::vector<Tensor>{s, a.grad(), b.grad(), big.grad()};
  };
  auto one = run(1);
  auto two = run(2);
  set_num_threads(before);
  for (size_t i = 0; i < one.size(); ++i) {
    TensorDiff d = compare(two[i], one[i], 1e-5, 1e-4);
    INFO(d.report);
    CHECK(d.within_tolerance);
  }
  CHECK_THROWS_AS(set_num_threads(0), std::invalid_argument);
}

TEST_CASE("layer_norm and linear sum their parameter gradients over rows alike on 1 and 2 threads", "[threads]") {
  const int before = num_threads();
  auto run = [](int threads) {
    set_num_threads(threads);
    Generator gen(12);
    Tensor x = Tensor::randn({8, 100, 64}, gen).requires_grad_();  // 800 rows: a partial last block
    Tensor gain = Tensor::randn({64}, gen).requires_grad_(), shift = Tensor::randn({64}, gen).requires_grad_();
    Tensor w = Tensor::randn({64, 96}, gen).requires_grad_(), b = Tensor::randn({96}, gen).requires_grad_();
    Tensor y = linear(layer_norm(x, gain, shift, 1e-5), w, b);
    sum(mul(y, y)).backward();
    return std::vector<Tensor>{gain.grad(), shift.grad(), b.grad(), x.grad()};
  };
  auto one = run(1);
  auto two = run(2);
  set_num_threads(before);
  for (size_t i = 0; i < one.size(); ++i) {
    TensorDiff d = compare(two[i], one[i], 0, 0);  // fixed summation order: bit for bit
    INFO("gradient " << i << ": " << d.report);
    CHECK(d.within_tolerance);
  }
}

namespace {
long resident_kb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
}  // namespace

TEST_CASE("10,000 training steps of a small model run in flat memory", "[memory]") {
  Generator gen(5);
  Tensor x = Tensor::randn({16, 8}, gen);
  Tensor y = Tensor::randn({16, 1}, gen);
  Tensor w1 = Tensor::randn({8, 16}, gen, 0, 0.3f).requires_grad_();
  Tensor w2 = Tensor::randn({16, 1}, gen, 0, 0.3f).requires_grad_();
  long after_warmup = 0;
  for (int step = 0; step < 10000; ++step) {
    Tensor h = tanh(matmul(x, w1));
    Tensor scores = softmax(matmul(h, h, {.transpose_b = true}));
    Tensor loss = mse_loss(matmul(matmul(scores, h), w2), y);
    w1.zero_grad();
    w2.zero_grad();
    loss.backward();
    NoGradGuard no_grad;
    for (Tensor* p : {&w1, &w2})
      for (int64_t i = 0; i < p->numel(); ++i) p->data()[i] -= 0.01f * p->grad().data()[i];
    if (step == 500) after_warmup = resident_kb();
  }
  const long growth = resident_kb() - after_warmup;
  INFO("resident set grew by " << growth << " KiB over 9,500 steps");
  CHECK(growth < 1024);
}
