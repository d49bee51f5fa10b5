// README promises results that do not depend on the thread count: every product sums
// each element in the same order whatever the split, and row reductions sum fixed blocks
// in a fixed order. Training a few steps on 1 and on 2 OpenMP threads must then give the
// same parameters and the same gradients, bit for bit.
#include <catch2/catch.hpp>

#include <cstring>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;

namespace {
// Sizes past kParallelGrain (activations of 32 x 17 x 64 elements) and past the products'
// split, so both threads take a share of every kind of work.
json config(const std::string& out_dir, int threads, const std::string& scorer) {
  return {{"model", {{"d_model", 64}, {"heads", 4}, {"layers", 2}, {"scorer", scorer}, {"dropout", 0.1}}},
          {"task", {{"name", "copy"}, {"seq_len", 17}, {"vocab", 16}, {"eval_batches", 1}}},
          {"optimizer", {{"name", "adamw"}, {"lr", 0.003}}},
          {"schedule", {{"name", "cosine"}}},
          {"train", {{"steps", 4}, {"batch_size", 32}, {"eval_interval", 0}, {"checkpoint_interval", 0},
                     {"grad_clip", 1.0}, {"out_dir", out_dir}, {"threads", threads}, {"plots", false}}}};
}

struct Trained {
  std::vector<std::string> names;
  std::vector<std::vector<Scalar>> values, grads;
};

Trained train(const std::string& dir, int threads, const std::string& scorer) {
  std::ostringstream log;
  Trainer trainer(resolve_config(config(dir, threads, scorer), "threads.json"),
                  {.resume = false, .overwrite = true, .log = &log, .progress_bar = false});
  REQUIRE(trainer.threads() == threads);
  trainer.run();
  Trained out;
  // The gradients of the last step stay on the parameters after run().
  for (auto& [name, p] : trainer.model().named_parameters()) {
    out.names.push_back(name);
    out.values.push_back(p.to_vector());
    REQUIRE(p.grad().defined());
    out.grads.push_back(p.grad().to_vector());
  }
  return out;
}

bool same_bits(const std::vector<Scalar>& a, const std::vector<Scalar>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(Scalar)) == 0;
}
}  // namespace

TEST_CASE("training on 1 and on 2 threads gives the same parameters and gradients, bit for bit", "[trainer][threads]") {
  const int restore = num_threads();
  for (const std::string scorer : {"scaled_dot", "additive"}) {
    INFO("scorer " << scorer);
    const std::string dir = qkv_test::scratch_dir("threads_" + scorer);
    const Trained one = train(dir + "/one", 1, scorer);
    const Trained two = train(dir + "/two", 2, scorer);
    REQUIRE(one.names == two.names);
    for (size_t i = 0; i < one.names.size(); ++i) {
      INFO("parameter " << one.names[i]);
      CHECK(same_bits(one.values[i], two.values[i]));
      CHECK(same_bits(one.grads[i], two.grads[i]));
    }
  }
  set_num_threads(restore);
}
