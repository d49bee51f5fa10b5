// Learning-rate schedules at chosen steps, against values computed by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "qkv.h"

using namespace qkv;

TEST_CASE("constant, step and exponential schedules", "[schedule]") {
  ConstantSchedule constant;
  CHECK(constant.lr(0, 0.3) == 0.3);
  CHECK(constant.lr(1000, 0.3) == 0.3);

  StepSchedule step(StepScheduleOptions{.step_size = 3, .gamma = 0.5});
  CHECK(step.lr(0, 0.8) == Approx(0.8));
  CHECK(step.lr(2, 0.8) == Approx(0.8));
  CHECK(step.lr(3, 0.8) == Approx(0.4));
  CHECK(step.lr(8, 0.8) == Approx(0.2));
  CHECK(step.lr(9, 0.8) == Approx(0.1));

  ExponentialSchedule exponential(ExponentialScheduleOptions{.gamma = 0.9});
  CHECK(exponential.lr(0, 2.0) == Approx(2.0));
  CHECK(exponential.lr(1, 2.0) == Approx(1.8));
  CHECK(exponential.lr(3, 2.0) == Approx(2.0 * 0.729));
}

TEST_CASE("cosine schedule", "[schedule]") {
  CosineSchedule cosine(CosineScheduleOptions{.t_max = 10, .eta_min = 0.1});
  CHECK(cosine.lr(0, 1.1) == Approx(1.1));
  CHECK(cosine.lr(5, 1.1) == Approx(0.6));  // halfway: the mean of 1.1 and 0.1
  // Step 2: 0.1 + 1.0 * (1 + cos(pi / 5)) / 2, cos(pi / 5) = (1 + sqrt 5) / 4.
  CHECK(cosine.lr(2, 1.1) == Approx(0.1 + (1 + (1 + std::sqrt(5.0)) / 4) / 2));
  CHECK(cosine.lr(10, 1.1) == Approx(0.1));
  CHECK(cosine.lr(25, 1.1) == Approx(0.1));  // stays at eta_min
}

TEST_CASE("warm-up then cosine or linear decay", "[schedule]") {
  WarmupSchedule cos_decay(WarmupScheduleOptions{.warmup_steps = 4, .total_steps = 14, .min_lr = 0.1});
  CHECK(cos_decay.lr(0, 1.0) == Approx(0.25));
  CHECK(cos_decay.lr(1, 1.0) == Approx(0.5));
  CHECK(cos_decay.lr(3, 1.0) == Approx(1.0));
  CHECK(cos_decay.lr(4, 1.0) == Approx(1.0));
  CHECK(cos_decay.lr(9, 1.0) == Approx(0.55));  // halfway through the decay
  CHECK(cos_decay.lr(14, 1.0) == Approx(0.1));
  CHECK(cos_decay.lr(100, 1.0) == Approx(0.1));

  WarmupSchedule linear(WarmupScheduleOptions{.warmup_steps = 2, .total_steps = 12, .min_lr = 0.0,
                                              .decay = WarmupDecay::linear});
  CHECK(linear.lr(0, 2.0) == Approx(1.0));
  CHECK(linear.lr(1, 2.0) == Approx(2.0));
  CHECK(linear.lr(2, 2.0) == Approx(2.0));
  CHECK(linear.lr(5, 2.0) == Approx(1.4));  // 3 of 10 decay steps: 2 - 2 * 0.3
  CHECK(linear.lr(12, 2.0) == Approx(0.0).margin(1e-12));

  WarmupSchedule no_warmup(WarmupScheduleOptions{.warmup_steps = 0, .total_steps = 4, .decay = WarmupDecay::linear});
  CHECK(no_warmup.lr(0, 1.0) == Approx(1.0));
  CHECK(no_warmup.lr(1, 1.0) == Approx(0.75));
}

TEST_CASE("schedules drive every group from its own base rate", "[schedule]") {
  Tensor a = Tensor::zeros({2}).requires_grad_(), b = Tensor::zeros({2}).requires_grad_();
  SGD opt(std::vector<ParamGroup>{{.params = {{"a", a}}, .lr = 1.0}, {.params = {{"b", b}}, .lr = 0.1}},
          SGDOptions{});
  StepSchedule sched(StepScheduleOptions{.step_size = 2, .gamma = 0.5});
  sched.apply(opt, 2);
  CHECK(opt.lr(0) == Approx(0.5));
  CHECK(opt.lr(1) == Approx(0.05));
  sched.apply(opt, 0);  // a pure function of the step: going back restores the rate
  CHECK(opt.lr(0) == Approx(1.0));
}

TEST_CASE("schedules round-trip through JSON and reject bad options", "[schedule]") {
  WarmupSchedule w(WarmupScheduleOptions{.warmup_steps = 3, .total_steps = 20, .min_lr = 0.01,
                                         .decay = WarmupDecay::linear});
  auto back = make_schedule(w.to_json());
  for (int64_t s : {0, 2, 3, 10, 25}) CHECK(back->lr(s, 0.5) == w.lr(s, 0.5));
  CHECK(back->to_json() == w.to_json());
  for (const auto& spec : {nlohmann::json{{"kind", "constant"}}, nlohmann::json{{"kind", "step"}, {"step_size", 5}},
                           nlohmann::json{{"kind", "exponential"}, {"gamma", 0.5}},
                           nlohmann::json{{"kind", "cosine"}, {"t_max", 7}}})
    CHECK(make_schedule(spec)->to_json()["kind"] == spec["kind"]);
  CHECK_THROWS_WITH(make_schedule({{"kind", "cyclic"}}), Catch::Contains("unknown kind \"cyclic\""));
  CHECK_THROWS_WITH(make_schedule({{"kind", "step"}, {"step_size", "x"}}), Catch::Contains("\"step_size\" must be an integer"));
  CHECK_THROWS_WITH(CosineSchedule(CosineScheduleOptions{.t_max = 0}), Catch::Contains("t_max must be positive"));
  CHECK_THROWS_WITH(WarmupSchedule(WarmupScheduleOptions{.warmup_steps = 5, .total_steps = 5}),
                    Catch::Contains("must exceed warmup_steps"));
  CHECK_THROWS_WITH(ConstantSchedule().lr(-1, 1.0), Catch::Contains("step must be >= 0"));
}
