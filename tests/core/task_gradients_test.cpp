// TaskGradients: each task's slots are its own, zeroed, shaped as the parameters, and the
// sums add them up in task order whichever thread ran which task.
#include <catch2/catch.hpp>

#include <vector>

#include "core/parallel.h"
#include "core/score_mod.h"

using namespace qkv;

namespace {
Scalar term(int64_t t, int64_t i) { return Scalar(1) / Scalar(t + 1) + Scalar(i) / 1000; }

// Task t adds term(t, i) to entry i of every parameter's slot.
std::vector<Tensor> sums_on(int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  const std::vector<Tensor> parameters{Tensor::zeros({3}), Tensor::zeros({2, 2}), Tensor::zeros({1})};
  constexpr int64_t kTasks = 7;
  TaskGradients grads(parameters, kTasks);
  parallel_tasks(kTasks, kParallelGrain, [&](const auto& next) {
    for (int64_t t; next(t);) {
      const ParameterGrads slots = grads.slots(t, 0, parameters.size());
      for (size_t p = 0; p < parameters.size(); ++p)
        for (int64_t i = 0; i < parameters[p].numel(); ++i) slots[p][i] += term(t, i);
    }
  });
  set_num_threads(before);
  return grads.sums();
}
}  // namespace

TEST_CASE("TaskGradients sums each parameter's slots over the tasks, in task order", "[threads]") {
  for (int threads : {1, 2, 3}) {
    const std::vector<Tensor> sums = sums_on(threads);
    REQUIRE(sums.size() == 3);
    CHECK(sums[1].shape() == Shape{2, 2});
    // Entry i: the float sum of term(t, i) taken in task order t = 0, 1, ..., to the bit
    // (the terms' sizes differ sevenfold, so another order rounds differently).
    for (const Tensor& sum : sums)
      for (int64_t i = 0; i < sum.numel(); ++i) {
        Scalar want = 0;
        for (int64_t t = 0; t < 7; ++t) want += term(t, i);
        INFO(threads << " threads, entry " << i);
        CHECK(sum.data()[i] == want);
      }
  }
}

TEST_CASE("TaskGradients hands out a task's slots for a range of parameters", "[score_mod]") {
  TaskGradients grads({Tensor::zeros({2}), Tensor::zeros({3}), Tensor::zeros({4})}, 2);
  const ParameterGrads last_two = grads.slots(1, 1, 2);
  REQUIRE(last_two.slots.size() == 2);
  last_two[0][2] += 5;  // task 1, parameter 1, entry 2
  last_two[1][3] += 7;  // task 1, parameter 2, entry 3
  grads.slots(0, 1, 1)[0][2] += 1;  // task 0, parameter 1, entry 2
  const std::vector<Tensor> sums = grads.sums();
  CHECK(std::vector<Scalar>(sums[0].data(), sums[0].data() + 2) == std::vector<Scalar>{0, 0});
  CHECK(std::vector<Scalar>(sums[1].data(), sums[1].data() + 3) == std::vector<Scalar>{0, 0, 6});
  CHECK(std::vector<Scalar>(sums[2].data(), sums[2].data() + 4) == std::vector<Scalar>{0, 0, 0, 7});
}
