// σReparam (layers/sigma_reparam.h): gradients through gamma / sigma(W) with u and v held
// (eval mode), and values worked out by hand on 2 x 2 weights whose spectral norm is known.
#include "layers_gradcheck_helpers.h"

#include <Eigen/Dense>
#include <cmath>

using namespace qkv;

namespace {
Tensor buffer(const Module& m, const std::string& name) {
  for (auto& [n, t] : m.named_buffers())
    if (n == name) return t;
  throw std::logic_error("no buffer " + name);
}
}  // namespace

TEST_CASE("sigma_reparam: linear gradients (input, weight, bias, gamma) with u and v held", "[grad][layers]") {
  Generator gen(21);
  Linear linear(LinearOptions{.in_features = 3, .out_features = 4, .sigma_reparam = true}, gen);
  randomise_parameters(linear, gen);  // gamma away from sigma(W), u and v no longer W's singular vectors
  linear.eval();                      // no power step: the function of W is fixed
  REQUIRE(linear.named_parameters().size() == 3);
  check_layer_gradients(linear, [&](const std::vector<Tensor>& in) { return linear(in[0]); },
                        {Tensor::randn({2, 3}, gen)});
}

TEST_CASE("sigma_reparam: a diagonal weight's spectral norm, gamma and output by hand", "[grad][layers]") {
  Generator gen(22);
  Linear linear(LinearOptions{.in_features = 2, .out_features = 2, .bias = false, .sigma_reparam = true}, gen);
  linear.set_parameter("weight", {3, 0, 0, 1});  // diag(3, 1): sigma = 3, u = v = e1
  linear.sigma_reparam()->reset();
  CHECK(linear.sigma_reparam()->sigma() == Approx(3).epsilon(1e-9));
  CHECK(linear.parameter("sigma.gamma").data()[0] == Approx(3).epsilon(1e-9));  // W_hat = W at the start
  CHECK(std::abs(buffer(linear, "sigma.u").data()[0]) == Approx(1).epsilon(1e-12));

  // gamma = 1.5 halves W: W_hat = diag(1.5, 0.5), and [2, 4] W_hat = [3, 2].
  linear.set_parameter("sigma.gamma", {1.5});
  linear.eval();
  const Tensor y = linear(Tensor::from({2, 4}));
  CHECK(y.data()[0] == Approx(3).epsilon(1e-9));
  CHECK(y.data()[1] == Approx(2).epsilon(1e-9));
}

TEST_CASE("sigma_reparam: one power-iteration step per training forward, by hand", "[grad][layers]") {
  Generator gen(23);
  Linear linear(LinearOptions{.in_features = 2, .out_features = 2, .bias = false, .sigma_reparam = true}, gen);
  linear.set_parameter("weight", {3, 0, 0, 1});
  Tensor u = buffer(linear, "sigma.u");
  u.data()[0] = u.data()[1] = 1 / std::sqrt(2.0);
  // From u = (1, 1)/sqrt 2: v = W^T u / |.| = (3, 1)/sqrt 10, u = W v / |.| = (9, 1)/sqrt 82,
  // sigma = u^T W v = (27 * 3 + 1) / sqrt(820) = sqrt(8.2).
  linear.eval();
  linear(Tensor::from({1, 1}));
  CHECK(u.data()[0] == Approx(1 / std::sqrt(2.0)));  // eval mode: no step
  linear.train();
  linear(Tensor::from({1, 1}));
  CHECK(u.data()[0] == Approx(9 / std::sqrt(82.0)).epsilon(1e-12));
  CHECK(buffer(linear, "sigma.v").data()[0] == Approx(3 / std::sqrt(10.0)).epsilon(1e-12));
  CHECK(linear.sigma_reparam()->sigma() == Approx(std::sqrt(8.2)).epsilon(1e-12));
}

TEST_CASE("sigma_reparam: gamma starts at the spectral norm, so the model starts unchanged", "[grad][layers]") {
  Generator a(24), b(24);
  Linear plain(LinearOptions{.in_features = 5, .out_features = 3}, a);
  Linear reparam(LinearOptions{.in_features = 5, .out_features = 3, .sigma_reparam = true}, b);
  Generator x_gen(25);
  const Tensor x = Tensor::randn({4, 5}, x_gen);
  const Tensor y0 = plain(x), y1 = reparam(x);
  for (int64_t i = 0; i < y0.numel(); ++i) CHECK(y1.data()[i] == Approx(y0.data()[i]).epsilon(1e-6));
  // The spectral norm from power iteration matches the largest singular value: the
  // square root of the largest eigenvalue of W^T W, by Eigen as an independent check.
  Eigen::MatrixXd w(5, 3);
  for (int64_t i = 0; i < 15; ++i) w(i / 3, i % 3) = reparam.weight().data()[i];
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(w.transpose() * w);
  CHECK(reparam.sigma_reparam()->sigma() == Approx(std::sqrt(eig.eigenvalues().maxCoeff())).epsilon(1e-9));
}
