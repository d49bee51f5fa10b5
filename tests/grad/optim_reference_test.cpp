// qkv's optimisers, clip_grad_norm and schedules against torch.optim itself, in double:
// the values come from tests/reference/optim_reference.py (committed with its output
// JSON), which runs five steps of every configuration on the same problem in float64.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <nlohmann/json.hpp>

#include "qkv.h"

using namespace qkv;
using nlohmann::json;

namespace {

json load_reference() {
  std::ifstream file(QKV_SOURCE_DIR "/tests/reference/optim_reference.json");
  REQUIRE(file.good());
  return json::parse(file);
}

Tensor filled(const Shape& shape, auto fn) {
  Tensor t = Tensor::empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = fn(static_cast<double>(i));
  return t;
}
Tensor from_json(const json& values, const Shape& shape) { return Tensor::from(values.get<std::vector<Scalar>>(), shape); }

// The problem of optim_reference.py: parameters w [3,4] and v [4], a fixed input X [2,3],
// loss = sum(tanh(X w + v)^2) + 0.5 * sum(w^2).
struct Problem {
  Tensor w = filled({3, 4}, [](double i) { return std::sin(0.7 * i + 0.3); }).requires_grad_();
  Tensor v = filled({4}, [](double i) { return std::cos(1.3 * i) * 0.5; }).requires_grad_();
  Tensor x = filled({2, 3}, [](double i) { return std::cos(0.9 * i - 0.4) * 1.5; });

  NamedParameters params() const { return {{"w", w}, {"v", v}}; }
  void backward() const {
    Tensor loss = sum(pow(tanh(matmul(x, w) + v), 2)) + sum(pow(w, 2)) * Scalar(0.5);
    loss.backward();
  }
};

// Reads torch's keyword options; every key must be read, so an option the script sets
// and this test forgot cannot pass unnoticed. Missing keys take qkv's defaults, which are
// PyTorch's (docs/optim.md).
class TorchOptions {
 public:
  explicit TorchOptions(const json& options) : options_(options) {}
  double number(const std::string& key, double fallback) {
    used_.insert(key);
    return options_.contains(key) ? options_[key].get<double>() : fallback;
  }
  bool flag(const std::string& key) {
    used_.insert(key);
    return options_.value(key, false);
  }
  double beta(int which, double fallback) {
    used_.insert("betas");
    return options_.contains("betas") ? options_["betas"][which].get<double>() : fallback;
  }
  void require_all_read() const {
    for (const auto& [key, _] : options_.items()) {
      INFO("option '" << key << "' is not mapped to a qkv option");
      CHECK(used_.count(key) == 1);
    }
  }

 private:
  json options_;
  std::set<std::string> used_;
};

std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, const json& options, NamedParameters params) {
  TorchOptions o(options);
  std::unique_ptr<Optimizer> opt;
  if (kind == "SGD") {
    const SGDOptions d;
    opt = std::make_unique<SGD>(params, SGDOptions{.lr = o.number("lr", d.lr),
                                                   .momentum = o.number("momentum", d.momentum),
                                                   .dampening = o.number("dampening", d.dampening),
                                                   .weight_decay = o.number("weight_decay", d.weight_decay),
                                                   .nesterov = o.flag("nesterov")});
  } else if (kind == "Adam") {
    const AdamOptions d;
    opt = std::make_unique<Adam>(params, AdamOptions{.lr = o.number("lr", d.lr),
                                                     .beta1 = o.beta(0, d.beta1),
                                                     .beta2 = o.beta(1, d.beta2),
                                                     .eps = o.number("eps", d.eps),
                                                     .weight_decay = o.number("weight_decay", d.weight_decay),
                                                     .amsgrad = o.flag("amsgrad")});
  } else if (kind == "AdamW") {
    const AdamWOptions d;
    opt = std::make_unique<AdamW>(params, AdamWOptions{.lr = o.number("lr", d.lr),
                                                       .beta1 = o.beta(0, d.beta1),
                                                       .beta2 = o.beta(1, d.beta2),
                                                       .eps = o.number("eps", d.eps),
                                                       .weight_decay = o.number("weight_decay", d.weight_decay),
                                                       .amsgrad = o.flag("amsgrad")});
  } else if (kind == "RMSprop") {
    const RMSpropOptions d;
    opt = std::make_unique<RMSprop>(params, RMSpropOptions{.lr = o.number("lr", d.lr),
                                                           .alpha = o.number("alpha", d.alpha),
                                                           .eps = o.number("eps", d.eps),
                                                           .weight_decay = o.number("weight_decay", d.weight_decay),
                                                           .momentum = o.number("momentum", d.momentum),
                                                           .centered = o.flag("centered")});
  } else if (kind == "Adagrad") {
    const AdagradOptions d;
    opt = std::make_unique<Adagrad>(
        params, AdagradOptions{.lr = o.number("lr", d.lr),
                               .lr_decay = o.number("lr_decay", d.lr_decay),
                               .weight_decay = o.number("weight_decay", d.weight_decay),
                               .initial_accumulator_value = o.number("initial_accumulator_value", d.initial_accumulator_value),
                               .eps = o.number("eps", d.eps)});
  } else {
    FAIL("the reference names optimiser '" << kind << "', which this test does not know");
  }
  o.require_all_read();
  return opt;
}

void check_close(const char* what, const Tensor& actual, const json& expected) {
  const TensorDiff d = compare(actual, from_json(expected, actual.shape()), 1e-10, 1e-10);
  INFO(what << ": " << d.report);
  CHECK(d.within_tolerance);
}

}  // namespace

TEST_CASE("optim: every optimiser configuration follows torch.optim for five steps (float64)",
          "[grad][optim-reference]") {
  const json ref = load_reference();
  const int steps = ref["steps"].get<int>();
  REQUIRE(!ref["optimizers"].empty());
  for (const json& config : ref["optimizers"]) {
    INFO(config["name"].get<std::string>() << " " << config["options"].dump());
    Problem p;
    std::unique_ptr<Optimizer> opt = make_optimizer(config["optimizer"], config["options"], p.params());
    REQUIRE(config["w"].size() == static_cast<size_t>(steps));
    for (int t = 0; t < steps; ++t) {
      INFO("after step " << t + 1);
      opt->zero_grad();
      p.backward();
      opt->step();
      check_close("w", p.w, config["w"][t]);
      check_close("v", p.v, config["v"][t]);
    }
  }
}

TEST_CASE("optim: clip_grad_norm matches torch.nn.utils.clip_grad_norm_ (float64)", "[grad][optim-reference]") {
  const json ref = load_reference();
  REQUIRE(!ref["clip_grad_norm"].empty());
  for (const json& clip : ref["clip_grad_norm"]) {
    const double norm_type =
        clip["norm_type"] == "inf" ? std::numeric_limits<double>::infinity() : clip["norm_type"].get<double>();
    INFO("norm_type " << norm_type);
    Problem p;
    p.backward();
    const double total =
        clip_grad_norm({p.w, p.v}, ClipGradNormOptions{.max_norm = clip["max_norm"].get<double>(), .norm_type = norm_type});
    CHECK(total == Approx(clip["total_norm"].get<double>()).epsilon(1e-12));
    check_close("clipped grad of w", p.w.grad(), clip["grad_w"]);
    check_close("clipped grad of v", p.v.grad(), clip["grad_v"]);
  }
}

TEST_CASE("optim: step, exponential and cosine schedules give torch.optim.lr_scheduler's rates",
          "[grad][optim-reference]") {
  const json ref = load_reference();
  REQUIRE(!ref["schedules"].empty());
  for (const json& entry : ref["schedules"]) {
    // The entry is the schedule's to_json() form plus the base rate and PyTorch's rates.
    json spec = entry;
    spec.erase("base_lr");
    spec.erase("lr");
    INFO(spec.dump());
    const std::unique_ptr<Schedule> schedule = make_schedule(spec);
    const double base_lr = entry["base_lr"].get<double>();
    for (size_t step = 0; step < entry["lr"].size(); ++step) {
      INFO("step " << step);
      CHECK(schedule->lr(static_cast<int64_t>(step), base_lr) ==
            Approx(entry["lr"][step].get<double>()).epsilon(1e-12).margin(1e-15));
    }
  }
}
