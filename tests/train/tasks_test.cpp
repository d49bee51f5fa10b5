#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "qkv.h"

using namespace qkv;
using json = nlohmann::json;

namespace {
int64_t at2(const Indices& x, int64_t b, int64_t i) {
  return x.values[static_cast<size_t>(b * x.shape[1] + i)];
}

// Fraction of scored positions a guesser gets right when it picks uniformly among
// `candidates(b, i)` without looking at the input: the Monte Carlo twin of
// chance_accuracy().
template <class Candidates>
double uniform_guess_accuracy(const Batch& batch, Candidates candidates, Generator& gen) {
  int64_t right = 0, scored = 0;
  for (int64_t b = 0; b < batch.targets.shape[0]; ++b)
    for (int64_t i = 0; i < batch.targets.shape[1]; ++i) {
      const int64_t target = at2(batch.targets, b, i);
      if (target == kIgnore) continue;
      const std::vector<int64_t> options = candidates(i);
      right += options[static_cast<size_t>(gen.integer(0, static_cast<int64_t>(options.size())))] == target;
      ++scored;
    }
  return static_cast<double>(right) / static_cast<double>(scored);
}

std::vector<int64_t> range(int64_t low, int64_t high) {
  std::vector<int64_t> r;
  for (int64_t v = low; v < high; ++v) r.push_back(v);
  return r;
}
}  // namespace

TEST_CASE("recall: the last target is the value that followed the query key", "[tasks]") {
  RecallTask task({.seq_len = 20, .vocab = 21, .pairs = 5});
  Generator gen(3);
  const Batch batch = task.sample(64, gen);
  REQUIRE(batch.tokens.shape == Shape{64, 20});
  REQUIRE(batch.targets.shape == Shape{64, 20});
  CHECK_FALSE(batch.features.defined());
  for (int64_t b = 0; b < 64; ++b) {
    const int64_t start = 20 - 11;
    for (int64_t i = 0; i < start; ++i) CHECK(at2(batch.tokens, b, i) == 0);  // left padding
    for (int64_t i = 0; i < 19; ++i) CHECK(at2(batch.targets, b, i) == kIgnore);
    std::vector<int64_t> keys;
    int64_t answer = -1;
    for (int64_t p = 0; p < 5; ++p) {
      const int64_t key = at2(batch.tokens, b, start + 2 * p);
      const int64_t value = at2(batch.tokens, b, start + 2 * p + 1);
      CHECK((key >= 1 && key < task.first_value()));
      CHECK((value >= task.first_value() && value < 21));
      keys.push_back(key);
      if (key == at2(batch.tokens, b, 19)) answer = value;
    }
    std::sort(keys.begin(), keys.end());
    CHECK(std::adjacent_find(keys.begin(), keys.end()) == keys.end());  // distinct keys
    CHECK(at2(batch.targets, b, 19) == answer);
  }
  CHECK(task.num_keys() == 10);
  CHECK(task.num_values() == 10);
  CHECK(task.chance_accuracy() == Approx(0.1));
  Generator guess(9);
  const Batch many = task.sample(4000, gen);
  CHECK(uniform_guess_accuracy(many, [&](int64_t) { return range(task.first_value(), 21); }, guess) ==
        Approx(task.chance_accuracy()).margin(0.015));
}

TEST_CASE("recall: seq_len 0 means the shortest that fits", "[tasks]") {
  CHECK(RecallTask({.seq_len = 0, .vocab = 32, .pairs = 8}).seq_len() == 17);
  CHECK(make_task("recall", json::object())->seq_len() == 2 * RecallOptions{}.pairs + 1);
}

TEST_CASE("copy, reverse and sort put the answer after the separator", "[tasks]") {
  for (SequenceMode mode : {SequenceMode::copy, SequenceMode::reverse, SequenceMode::sort}) {
    SequenceTask task(mode, {.seq_len = 12, .vocab = 7});  // L = 5, one trailing PAD
    INFO(task.name());
    Generator gen(11);
    const Batch batch = task.sample(32, gen);
    REQUIRE(batch.tokens.shape == Shape{32, 12});
    for (int64_t b = 0; b < 32; ++b) {
      std::vector<int64_t> source, answer;
      for (int64_t i = 0; i < 5; ++i) {
        source.push_back(at2(batch.tokens, b, i));
        CHECK(at2(batch.targets, b, i) == kIgnore);
        CHECK((source.back() >= SequenceTask::kFirstSymbol && source.back() < 7));
      }
      CHECK(at2(batch.tokens, b, 5) == SequenceTask::kSeparator);
      CHECK(at2(batch.targets, b, 5) == kIgnore);
      for (int64_t i = 6; i < 11; ++i) {
        CHECK(at2(batch.tokens, b, i) == SequenceTask::kBlank);
        answer.push_back(at2(batch.targets, b, i));
      }
      CHECK(at2(batch.tokens, b, 11) == SequenceTask::kBlank);
      CHECK(at2(batch.targets, b, 11) == kIgnore);
      std::vector<int64_t> expected = source;
      if (mode == SequenceMode::reverse) std::reverse(expected.begin(), expected.end());
      if (mode == SequenceMode::sort) std::sort(expected.begin(), expected.end());
      CHECK(answer == expected);
    }
    CHECK(task.chance_accuracy() == Approx(1.0 / 5));
  }
}

TEST_CASE("shift: output[i] = input[i - k], the filler before k", "[tasks]") {
  ShiftTask task({.seq_len = 10, .vocab = 9, .shift = 3});
  Generator gen(5);
  const Batch batch = task.sample(16, gen);
  for (int64_t b = 0; b < 16; ++b) {
    for (int64_t i = 0; i < 3; ++i) CHECK(at2(batch.targets, b, i) == ShiftTask::kFiller);
    for (int64_t i = 3; i < 10; ++i) CHECK(at2(batch.targets, b, i) == at2(batch.tokens, b, i - 3));
    for (int64_t i = 0; i < 10; ++i) CHECK(at2(batch.tokens, b, i) != ShiftTask::kFiller);
  }
  // 3 positions always right, 7 right one time in 8.
  CHECK(task.chance_accuracy() == Approx((3 + 7.0 / 8) / 10));
  Generator guess(2);
  const Batch many = task.sample(3000, gen);
  const auto candidates = [](int64_t i) { return i < 3 ? std::vector<int64_t>{0} : range(1, 9); };
  CHECK(uniform_guess_accuracy(many, candidates, guess) ==
        Approx(task.chance_accuracy()).margin(0.01));
}

TEST_CASE("every task is deterministic per seed and differs across seeds", "[tasks]") {
  for (const std::string& name : task_names()) {
    INFO(name);
    const auto task = make_task(name, json::object());
    Generator a(42), b(42), c(43);
    const Batch x = task->sample(4, a), y = task->sample(4, b), z = task->sample(4, c);
    CHECK(x.targets.values == y.targets.values);
    if (task->continuous()) {
      CHECK(x.features.to_vector() == y.features.to_vector());
      CHECK(x.features.to_vector() != z.features.to_vector());
    } else {
      CHECK(x.tokens.values == y.tokens.values);
      CHECK(x.tokens.values != z.tokens.values);
    }
    // The generator advances: the next batch is new.
    const Batch next = task->sample(4, a);
    CHECK((task->continuous() ? next.features.to_vector() != x.features.to_vector()
                              : next.tokens.values != x.tokens.values));
    const auto held_out = held_out_batches(*task, 2, 4, 42);
    CHECK(held_out.size() == 2);
    CHECK(held_out[0].targets.values == x.targets.values);
    CHECK(held_out[1].targets.values == next.targets.values);
  }
}

TEST_CASE("tasks report their sizes", "[tasks]") {
  for (const std::string& name : task_names()) {
    INFO(name);
    const auto task = make_task(name, json::object());
    CHECK(task->name() == name);
    Generator gen(1);
    const Batch batch = task->sample(3, gen);
    CHECK(batch.targets.shape == Shape{3, task->seq_len()});
    int64_t scored = 0;
    for (int64_t t : batch.targets.values) {
      if (t == kIgnore) continue;
      ++scored;
      CHECK((t >= 0 && t < task->num_classes()));
    }
    CHECK(scored > 0);
    if (task->continuous()) {
      CHECK(batch.features.shape() == Shape{3, task->seq_len(), task->feature_dim()});
      CHECK(task->vocab_size() == 0);
    } else {
      CHECK(batch.tokens.shape == Shape{3, task->seq_len()});
      for (int64_t t : batch.tokens.values) CHECK((t >= 0 && t < task->vocab_size()));
    }
    CHECK((task->chance_accuracy() > 0 && task->chance_accuracy() < 1));
  }
}

TEST_CASE("task options are validated with clear messages", "[tasks]") {
  CHECK_THROWS_WITH(make_task("recall", {{"pairs", 4}, {"seq_len", 8}}),
                    "recall task: seq_len: expected at least 2 * pairs + 1 = 9 (or 0), found 8");
  CHECK_THROWS_WITH(make_task("recall", {{"pairs", 8}, {"vocab", 16}}),
                    Catch::Contains("vocab: expected at least 2 * pairs + 2 = 18"));
  CHECK_THROWS_WITH(make_task("shift", {{"seq_len", 8}, {"shift", 8}}),
                    "shift task: shift: expected in [0, seq_len) = [0, 8), found 8");
  CHECK_THROWS_WITH(make_task("copy", {{"vocab", 3}}),
                    Catch::Contains("copy task: vocab: expected at least 4"));
  CHECK_THROWS_WITH(make_task("sort", {{"seq_len", 2}}),
                    Catch::Contains("sort task: seq_len: expected at least 3"));
  CHECK_THROWS_WITH(make_task("pixels", {{"image_size", 8}, {"seq_len", 65}}),
                    Catch::Contains("pixels task: seq_len: expected in [1, image_size^2] = [1, 64]"));
  CHECK_THROWS_WITH(make_task("copy", {{"pairs", 3}}),
                    Catch::Contains("copy task: pairs: expected one of the options of this task (seq_len, vocab)"));
  CHECK_THROWS_WITH(make_task("copy", {{"vocab", "many"}}),
                    "copy task: vocab: expected an integer, found \"many\"");
  CHECK_THROWS_WITH(make_task("translate", json::object()),
                    Catch::Contains("unknown task \"translate\"; known tasks: recall, copy"));
  CHECK_THROWS_AS(make_task("shift", {{"shift", -1}}), TaskOptionError);
  Generator gen(0);
  CHECK_THROWS_WITH(make_task("copy", json::object())->sample(0, gen),
                    "copy task: batch_size must be at least 1, found 0");
}
