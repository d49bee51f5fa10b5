// The Optimizer base: decay groups, state export/import, validation, and that each rule
// trains a small problem in the float build.
#include <catch2/catch.hpp>

#include <memory>

#include "qkv.h"

using namespace qkv;

namespace {
class Tiny : public Module {
 public:
  Tiny() {
    Generator gen(3);
    weight = register_parameter("weight", Tensor::randn({3, 2}, gen));
    bias = register_parameter("bias", Tensor::zeros({2}));
    norm = register_module("norm", std::make_shared<Scale>());
  }
  struct Scale : Module {
    Scale() { gain = register_parameter("gain", Tensor::ones({2, 2})); }
    Tensor gain;
  };
  Tensor weight, bias;
  std::shared_ptr<Scale> norm;
};

// Mean squared distance of a 3x2 matrix to a fixed target: a convex problem all rules solve.
double train(Optimizer& opt, Tensor& w, int steps) {
  Tensor target = Tensor::from({1, -1, 0.5, 2, -0.5, 0}, {3, 2});
  double loss_value = 0;
  for (int i = 0; i < steps; ++i) {
    opt.zero_grad();
    Tensor loss = mse_loss(w, target);
    loss.backward();
    opt.step();
    loss_value = loss.item();
  }
  return loss_value;
}
}  // namespace

TEST_CASE("weight_decay_groups exempts biases, norms and 1-D tensors", "[optim]") {
  Tiny m;
  auto groups = weight_decay_groups(m, 0.1);
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].weight_decay == 0.1);
  REQUIRE(groups[0].params.size() == 1);
  CHECK(groups[0].params[0].first == "weight");
  CHECK(groups[1].weight_decay == 0.0);
  REQUIRE(groups[1].params.size() == 2);
  CHECK(groups[1].params[0].first == "bias");
  CHECK(groups[1].params[1].first == "norm.gain");
  AdamW opt(groups, AdamWOptions{});
  CHECK(opt.groups()[0].weight_decay == 0.1);
  CHECK(opt.groups()[1].weight_decay == 0.0);
}

TEST_CASE("every rule trains a small problem in the float build", "[optim]") {
  auto fresh = [] { return Tensor::zeros({3, 2}).requires_grad_(); };
  Tensor w1 = fresh(), w2 = fresh(), w3 = fresh(), w4 = fresh(), w5 = fresh();
  SGD sgd({{"w", w1}}, SGDOptions{.lr = 0.5, .momentum = 0.5});
  Adam adam({{"w", w2}}, AdamOptions{.lr = 0.05});
  AdamW adamw({{"w", w3}}, AdamWOptions{.lr = 0.05, .weight_decay = 0.001});
  RMSprop rmsprop({{"w", w4}}, RMSpropOptions{.lr = 0.01});
  Adagrad adagrad({{"w", w5}}, AdagradOptions{.lr = 0.3});
  CHECK(train(sgd, w1, 200) < 1e-4);
  CHECK(train(adam, w2, 300) < 1e-3);
  CHECK(train(adamw, w3, 300) < 1e-3);
  CHECK(train(rmsprop, w4, 300) < 1e-3);
  CHECK(train(adagrad, w5, 300) < 1e-3);
}

TEST_CASE("optimiser state exports and imports exactly", "[optim]") {
  Tensor a = Tensor::zeros({3, 2}).requires_grad_(), b = Tensor::zeros({3, 2}).requires_grad_();
  Adam first({{"w", a}}, AdamOptions{.lr = 0.05, .amsgrad = true});
  train(first, a, 5);
  OptimizerState state = first.state();
  CHECK(state.meta["kind"] == "adam");
  CHECK(state.meta["steps"]["w"] == 5);
  REQUIRE(state.tensors.size() == 3);
  CHECK(state.tensors[0].first == "w.exp_avg");
  CHECK(state.tensors[2].first == "w.max_exp_avg_sq");

  Adam second({{"w", b}}, AdamOptions{.lr = 0.05, .amsgrad = true});
  // Copy the parameters and the state, then both optimisers must take identical steps.
  std::copy(a.data(), a.data() + a.numel(), b.data());
  second.load_state(state);
  CHECK(second.step_count("w") == 5);
  train(first, a, 3);
  train(second, b, 3);
  CHECK(a.to_vector() == b.to_vector());
}

TEST_CASE("a mismatched optimiser state is refused without changing anything", "[optim]") {
  Tensor a = Tensor::zeros({3, 2}).requires_grad_();
  SGD sgd({{"w", a}}, SGDOptions{.lr = 0.1, .momentum = 0.9});
  train(sgd, a, 2);
  const OptimizerState good = sgd.state();
  const std::vector<Scalar> before = good.tensors[0].second.to_vector();

  OptimizerState wrong_kind = good;
  wrong_kind.meta["kind"] = "adam";
  CHECK_THROWS_WITH(sgd.load_state(wrong_kind), Catch::Contains("was saved by optimiser \"adam\""));
  OptimizerState missing = good;
  missing.tensors.clear();
  CHECK_THROWS_WITH(sgd.load_state(missing), Catch::Contains("tensor 'w.momentum_buffer' is missing"));
  OptimizerState extra = good;
  extra.tensors.emplace_back("w.exp_avg", Tensor::zeros({3, 2}));
  CHECK_THROWS_WITH(sgd.load_state(extra), Catch::Contains("unexpected tensor 'w.exp_avg'"));
  OptimizerState shape = good;
  shape.tensors[0].second = Tensor::ones({2, 3});
  CHECK_THROWS_WITH(sgd.load_state(shape), Catch::Contains("has shape [2, 3], the parameter has [3, 2]"));
  OptimizerState steps = good;
  steps.meta["steps"]["w"] = -1;
  CHECK_THROWS_WITH(sgd.load_state(steps), Catch::Contains("no valid step count for parameter 'w'"));
  CHECK(sgd.state().tensors[0].second.to_vector() == before);
  CHECK(sgd.step_count("w") == 2);
}

TEST_CASE("optimisers refuse bad options and duplicate parameters", "[optim]") {
  Tensor a = Tensor::zeros({2}).requires_grad_();
  CHECK_THROWS_WITH(SGD({{"a", a}, {"b", a}}, SGDOptions{}), Catch::Contains("same tensor"));
  CHECK_THROWS_WITH(SGD({{"a", a}, {"a", Tensor::zeros({1})}}, SGDOptions{}), Catch::Contains("'a' appears twice"));
  CHECK_THROWS_WITH(Adam({{"a", a}}, AdamOptions{.beta1 = 1.0}), Catch::Contains("beta1"));
  CHECK_THROWS_WITH(RMSprop({{"a", a}}, RMSpropOptions{.alpha = -0.5}), Catch::Contains("alpha"));
  CHECK_THROWS_WITH(Adagrad({{"a", a}}, AdagradOptions{.lr_decay = -1}), Catch::Contains("lr_decay"));
  CHECK_THROWS_WITH(SGD({{"a", a}}, SGDOptions{.lr = -1}), Catch::Contains("invalid learning rate"));
}
