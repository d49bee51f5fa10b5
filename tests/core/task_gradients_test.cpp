// TaskGradients: each task's slots are its own, zeroed, shaped as the parameters, and the
// sums add them up in task order whichever thread ran which task.
#include <catch2/catch.hpp>

#include <vector>

#include "core/parallel.h"
#include "core/score_mod.h"

using namespace qkv;

namespace {
// Task t adds 1 / (t + 1) + i / 1000 to entry i of every parameter's slot, twice.
std::vector<Tensor> sums_on(int threads) {
  const int before = num_threads();
  set_num_threads(threads);
  const std::vector<Tensor> parameters{Tensor::zeros({3}), Tensor::zeros({2, 2}), Tensor::zeros({1})};
  constexpr int64_t kTasks = 7;
  TaskGradients grads(parameters, kTasks);
  parallel_tasks(kTasks, kParallelGrain, [&](const auto& next) {
    for (int64_t t; next(t);) {
      const ParameterGrads slots = grads.slots(t, 0, parameters.size());
      for (int repeat = 0; repeat < 2; ++repeat)
        for (size_t p = 0; p < parameters.size(); ++p)
          for (int64_t i = 0; i < parameters[p].numel(); ++i) slots[p][i] += Scalar(1) / Scalar(t + 1) + Scalar(i) / 1000;
    }
  });
  set_num_threads(before);
  return grads.sums();
}
}  // namespace

TEST_CASE("TaskGradients sums each parameter's slots over the tasks, in task order", "[threads]") {
  const std::vector<Tensor> one = sums_on(1);
  REQUIRE(one.size() == 3);
  CHECK(one[1].shape() == Shape{2, 2});
  // Entry i: sum over t of 2 (1 / (t + 1) + i / 1000), added task by task.
  for (const Tensor& sum : one)
    for (int64_t i = 0; i < sum.numel(); ++i) {
      Scalar want = 0;
      for (int64_t t = 0; t < 7; ++t) want += (Scalar(1) / Scalar(t + 1) + Scalar(i) / 1000) + (Scalar(1) / Scalar(t + 1) + Scalar(i) / 1000);
      CHECK(sum.data()[i] == Approx(want).epsilon(1e-6));
    }
  // The same bits on a team of two or three.
  for (int threads : {2, 3}) {
    const std::vector<Tensor> many = sums_on(threads);
    for (size_t p = 0; p < one.size(); ++p)
      CHECK(std::vector<Scalar>(many[p].data(), many[p].data() + many[p].numel()) ==
            std::vector<Scalar>(one[p].data(), one[p].data() + one[p].numel()));
  }
}

TEST_CASE("TaskGradients hands out a task's slots for a range of parameters", "[threads]") {
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
