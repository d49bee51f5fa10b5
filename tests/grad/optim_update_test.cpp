// Every optimiser and every option, four steps on a fixed quadratic problem, against an
// independent scalar implementation of the update equations as PyTorch's documentation
// gives them (torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad), computed in double.
// Linked against qkv_f64, so the comparison holds to 1e-9.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>

#include "qkv.h"

using namespace qkv;

namespace {

// loss = sum(c * theta^2 / 2 + d * theta), so dloss/dtheta = c * theta + d: gradients
// that change from step to step and shrink, which exercises momentum and AMSGrad's max.
const std::vector<double> kTheta0{0.5, -1.25, 2.0, 0.75, -0.3, 1.1};
const std::vector<double> kC{1.0, 0.5, 2.0, 1.5, 0.8, 3.0};
const std::vector<double> kD{0.1, -0.2, 0.3, 0.05, -0.4, 0.0};
constexpr int kSteps = 4;

// Per-element state of the reference implementations.
struct Elem {
  double theta, m = 0, v = 0, v_max = 0, buf = 0, g_avg = 0, sum = 0;
};
// Applies one update to one element; t counts from 1.
using RefUpdate = std::function<void(Elem& e, double g, int t)>;

std::vector<std::vector<double>> reference(const RefUpdate& update, double init_sum = 0) {
  std::vector<Elem> elems;
  for (double th : kTheta0) elems.push_back(Elem{.theta = th, .sum = init_sum});
  std::vector<std::vector<double>> history;
  for (int t = 1; t <= kSteps; ++t) {
    std::vector<double> now;
    for (size_t i = 0; i < elems.size(); ++i) {
      update(elems[i], kC[i] * elems[i].theta + kD[i], t);
      now.push_back(elems[i].theta);
    }
    history.push_back(now);
  }
  return history;
}

struct Quadratic {
  Tensor theta = Tensor::from(std::vector<Scalar>(kTheta0.begin(), kTheta0.end()), {2, 3}).requires_grad_();
  Tensor c = Tensor::from(std::vector<Scalar>(kC.begin(), kC.end()), {2, 3});
  Tensor d = Tensor::from(std::vector<Scalar>(kD.begin(), kD.end()), {2, 3});
  NamedParameters params() { return {{"theta", theta}}; }
  void backward() {
    Tensor loss = sum(add(mul(mul(c, mul(theta, theta)), 0.5), mul(d, theta)));
    loss.backward();
  }
};

std::vector<std::vector<double>> run(Quadratic& p, Optimizer& opt) {
  std::vector<std::vector<double>> history;
  for (int t = 1; t <= kSteps; ++t) {
    opt.zero_grad();
    p.backward();
    opt.step();
    std::vector<Scalar> v = p.theta.to_vector();
    history.emplace_back(v.begin(), v.end());
  }
  return history;
}

void check_close(const std::vector<std::vector<double>>& got, const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t t = 0; t < got.size(); ++t)
    for (size_t i = 0; i < got[t].size(); ++i) {
      INFO("step " << t + 1 << " element " << i);
      CHECK(got[t][i] == Approx(want[t][i]).margin(1e-9).epsilon(1e-9));
    }
}

// The option under test must change the trajectory, or the comparison proves nothing.
void check_differs(const std::vector<std::vector<double>>& a, const std::vector<std::vector<double>>& b) {
  double largest = 0;
  for (size_t i = 0; i < a.back().size(); ++i) largest = std::max(largest, std::abs(a.back()[i] - b.back()[i]));
  CHECK(largest > 1e-4);
}

RefUpdate sgd_ref(double lr, double mu, double damp, double wd, bool nesterov) {
  return [=](Elem& e, double g, int t) {
    if (wd != 0) g += wd * e.theta;
    if (mu != 0) {
      e.buf = t > 1 ? mu * e.buf + (1 - damp) * g : g;
      g = nesterov ? g + mu * e.buf : e.buf;
    }
    e.theta -= lr * g;
  };
}

RefUpdate adam_ref(double lr, double b1, double b2, double eps, double wd, bool amsgrad, bool decoupled) {
  return [=](Elem& e, double g, int t) {
    if (decoupled) e.theta *= 1 - lr * wd;
    else g += wd * e.theta;
    e.m = b1 * e.m + (1 - b1) * g;
    e.v = b2 * e.v + (1 - b2) * g * g;
    const double m_hat = e.m / (1 - std::pow(b1, t));
    e.v_max = std::max(e.v_max, e.v);
    const double v_hat = (amsgrad ? e.v_max : e.v) / (1 - std::pow(b2, t));
    e.theta -= lr * m_hat / (std::sqrt(v_hat) + eps);
  };
}

RefUpdate rmsprop_ref(double lr, double alpha, double eps, double wd, double mu, bool centered) {
  return [=](Elem& e, double g, int) {
    g += wd * e.theta;
    e.v = alpha * e.v + (1 - alpha) * g * g;
    double v_tilde = e.v;
    if (centered) {
      e.g_avg = alpha * e.g_avg + (1 - alpha) * g;
      v_tilde -= e.g_avg * e.g_avg;
    }
    if (mu > 0) {
      e.buf = mu * e.buf + g / (std::sqrt(v_tilde) + eps);
      e.theta -= lr * e.buf;
    } else {
      e.theta -= lr * g / (std::sqrt(v_tilde) + eps);
    }
  };
}

RefUpdate adagrad_ref(double lr, double lr_decay, double wd, double eps) {
  return [=](Elem& e, double g, int t) {
    const double clr = lr / (1 + (t - 1) * lr_decay);
    g += wd * e.theta;
    e.sum += g * g;
    e.theta -= clr * g / (std::sqrt(e.sum) + eps);
  };
}

template <class Opt, class Options>
std::vector<std::vector<double>> trajectory(Options options) {
  Quadratic p;
  Opt opt(p.params(), options);
  return run(p, opt);
}

}  // namespace

TEST_CASE("optim: SGD follows torch.optim.SGD for every option", "[optim]") {
  const auto plain = trajectory<SGD>(SGDOptions{.lr = 0.1});
  check_close(plain, reference(sgd_ref(0.1, 0, 0, 0, false)));
  // Step 1 by hand: theta0 = 0.5, g = 1.0 * 0.5 + 0.1 = 0.6, theta1 = 0.5 - 0.1 * 0.6.
  CHECK(plain[0][0] == Approx(0.44).margin(1e-12));

  const auto decay = trajectory<SGD>(SGDOptions{.lr = 0.1, .weight_decay = 0.2});
  check_close(decay, reference(sgd_ref(0.1, 0, 0, 0.2, false)));
  check_differs(decay, plain);

  const auto momentum = trajectory<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9});
  check_close(momentum, reference(sgd_ref(0.1, 0.9, 0, 0, false)));
  check_differs(momentum, plain);
  // Step 2 by hand: theta1 = 0.44, g = 0.54, b = 0.9 * 0.6 + 0.54 = 1.08, theta2 = 0.332.
  CHECK(momentum[1][0] == Approx(0.332).margin(1e-12));

  const auto dampened = trajectory<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  check_close(dampened, reference(sgd_ref(0.1, 0.9, 0.5, 0, false)));
  check_differs(dampened, momentum);

  const auto nesterov = trajectory<SGD>(SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  check_close(nesterov, reference(sgd_ref(0.1, 0.9, 0, 0, true)));
  check_differs(nesterov, momentum);

  check_close(trajectory<SGD>(SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 0.1, .nesterov = true}),
              reference(sgd_ref(0.05, 0.8, 0, 0.1, true)));
  CHECK_THROWS_WITH(SGD(Quadratic().params(), SGDOptions{.momentum = 0.9, .dampening = 0.1, .nesterov = true}),
                    Catch::Contains("Nesterov"));
}

TEST_CASE("optim: Adam and AdamW follow torch.optim.Adam/AdamW for every option", "[optim]") {
  const auto plain = trajectory<Adam>(AdamOptions{.lr = 0.1});
  check_close(plain, reference(adam_ref(0.1, 0.9, 0.999, 1e-8, 0, false, false)));
  // The first Adam step moves every element by lr * sign(g) (up to eps).
  CHECK(plain[0][0] == Approx(0.5 - 0.1).margin(1e-8));
  CHECK(plain[0][1] == Approx(-1.25 + 0.1).margin(1e-8));

  const auto l2 = trajectory<Adam>(AdamOptions{.lr = 0.1, .weight_decay = 0.5});
  check_close(l2, reference(adam_ref(0.1, 0.9, 0.999, 1e-8, 0.5, false, false)));
  check_differs(l2, plain);

  // Small beta2 and shrinking gradients make v fall, so AMSGrad's max matters.
  const auto fast = trajectory<Adam>(AdamOptions{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.5, .eps = 1e-3});
  check_close(fast, reference(adam_ref(0.1, 0.8, 0.5, 1e-3, 0, false, false)));
  const auto ams = trajectory<Adam>(AdamOptions{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.5, .eps = 1e-3, .amsgrad = true});
  check_close(ams, reference(adam_ref(0.1, 0.8, 0.5, 1e-3, 0, true, false)));
  check_differs(ams, fast);

  const auto adamw = trajectory<AdamW>(AdamWOptions{.lr = 0.1, .weight_decay = 0.5});
  check_close(adamw, reference(adam_ref(0.1, 0.9, 0.999, 1e-8, 0.5, false, true)));
  check_differs(adamw, l2);
  check_close(trajectory<AdamW>(AdamWOptions{.lr = 0.1, .beta1 = 0.8, .beta2 = 0.5, .weight_decay = 0.3, .amsgrad = true}),
              reference(adam_ref(0.1, 0.8, 0.5, 1e-8, 0.3, true, true)));
  // AdamW's default weight decay is 1e-2, Adam's 0, as in PyTorch.
  check_close(trajectory<AdamW>(AdamWOptions{.lr = 0.1}), reference(adam_ref(0.1, 0.9, 0.999, 1e-8, 1e-2, false, true)));
}

TEST_CASE("optim: RMSprop follows torch.optim.RMSprop for every option", "[optim]") {
  const auto plain = trajectory<RMSprop>(RMSpropOptions{.lr = 0.01});
  check_close(plain, reference(rmsprop_ref(0.01, 0.99, 1e-8, 0, 0, false)));
  // Step 1 by hand: v = 0.01 g^2, so theta moves by lr * g / (0.1 |g|) = 10 lr sign(g).
  CHECK(plain[0][0] == Approx(0.5 - 0.1).margin(1e-6));

  const auto alpha = trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .alpha = 0.9, .eps = 1e-4});
  check_close(alpha, reference(rmsprop_ref(0.01, 0.9, 1e-4, 0, 0, false)));
  const auto decay = trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .weight_decay = 0.3});
  check_close(decay, reference(rmsprop_ref(0.01, 0.99, 1e-8, 0.3, 0, false)));
  check_differs(decay, plain);
  const auto momentum = trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .momentum = 0.9});
  check_close(momentum, reference(rmsprop_ref(0.01, 0.99, 1e-8, 0, 0.9, false)));
  check_differs(momentum, plain);
  const auto centered = trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .alpha = 0.9, .centered = true});
  check_close(centered, reference(rmsprop_ref(0.01, 0.9, 1e-8, 0, 0, true)));
  check_differs(centered, trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .alpha = 0.9}));
  check_close(trajectory<RMSprop>(RMSpropOptions{.lr = 0.01, .alpha = 0.9, .weight_decay = 0.1, .momentum = 0.5, .centered = true}),
              reference(rmsprop_ref(0.01, 0.9, 1e-8, 0.1, 0.5, true)));
}

TEST_CASE("optim: Adagrad follows torch.optim.Adagrad for every option", "[optim]") {
  const auto plain = trajectory<Adagrad>(AdagradOptions{.lr = 0.1});
  check_close(plain, reference(adagrad_ref(0.1, 0, 0, 1e-10)));
  // Step 1 by hand: sum = g^2, so theta moves by lr * sign(g).
  CHECK(plain[0][0] == Approx(0.4).margin(1e-9));

  const auto lr_decay = trajectory<Adagrad>(AdagradOptions{.lr = 0.1, .lr_decay = 0.5});
  check_close(lr_decay, reference(adagrad_ref(0.1, 0.5, 0, 1e-10)));
  check_differs(lr_decay, plain);
  const auto decay = trajectory<Adagrad>(AdagradOptions{.lr = 0.1, .weight_decay = 0.4});
  check_close(decay, reference(adagrad_ref(0.1, 0, 0.4, 1e-10)));
  check_differs(decay, plain);
  const auto init = trajectory<Adagrad>(AdagradOptions{.lr = 0.1, .initial_accumulator_value = 0.5});
  check_close(init, reference(adagrad_ref(0.1, 0, 0, 1e-10), 0.5));
  check_differs(init, plain);
  const auto eps = trajectory<Adagrad>(AdagradOptions{.lr = 0.1, .eps = 0.1});
  check_close(eps, reference(adagrad_ref(0.1, 0, 0, 0.1)));
  check_differs(eps, plain);
}

TEST_CASE("optim: parameter groups use their own rate and weight decay", "[optim]") {
  Quadratic a, b;
  std::vector<ParamGroup> groups{{.params = {{"a", a.theta}}, .lr = 0.05, .weight_decay = 0.2},
                                 {.params = {{"b", b.theta}}}};
  SGD opt(groups, SGDOptions{.lr = 0.1, .momentum = 0.9});
  CHECK(opt.lr(0) == 0.05);
  CHECK(opt.lr(1) == 0.1);
  std::vector<std::vector<double>> ha, hb;
  for (int t = 0; t < kSteps; ++t) {
    opt.zero_grad();
    a.backward();
    b.backward();
    opt.step();
    auto va = a.theta.to_vector(), vb = b.theta.to_vector();
    ha.emplace_back(va.begin(), va.end());
    hb.emplace_back(vb.begin(), vb.end());
  }
  check_close(ha, reference(sgd_ref(0.05, 0.9, 0, 0.2, false)));
  check_close(hb, reference(sgd_ref(0.1, 0.9, 0, 0, false)));
}

TEST_CASE("optim: a parameter without a gradient is skipped and keeps its own step count", "[optim]") {
  Quadratic a, b;
  Adam opt(NamedParameters{{"a", a.theta}, {"b", b.theta}}, AdamOptions{.lr = 0.1});
  // Two steps where only `a` has a gradient, then both: b's first update must use t = 1.
  for (int t = 0; t < 2; ++t) {
    opt.zero_grad();
    a.backward();
    opt.step();
  }
  CHECK(b.theta.to_vector() == std::vector<Scalar>(kTheta0.begin(), kTheta0.end()));
  CHECK(opt.step_count("a") == 2);
  CHECK(opt.step_count("b") == 0);
  opt.zero_grad();
  b.backward();
  opt.step();
  CHECK(opt.step_count("a") == 2);
  CHECK(opt.step_count("b") == 1);
  const auto want = reference(adam_ref(0.1, 0.9, 0.999, 1e-8, 0, false, false));
  for (size_t i = 0; i < kTheta0.size(); ++i) CHECK(b.theta.to_vector()[i] == Approx(want[0][i]).margin(1e-9));
}
