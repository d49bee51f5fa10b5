// Buffers in checkpoints: σReparam's power-iteration vectors and its gamma come back exactly,
// so a resumed run takes the same power steps; a file without them is refused by name.
#include <catch2/catch.hpp>

#include "qkv.h"
#include "test_files.h"

using namespace qkv;

namespace {
std::vector<Scalar> buffer_values(const Module& m, const std::string& name) {
  for (auto& [n, t] : m.named_buffers())
    if (n == name) return t.to_vector();
  FAIL("no buffer " << name);
  return {};
}
}  // namespace

TEST_CASE("checkpoint: sigma_reparam's u, v and gamma round-trip", "[io]") {
  const auto dir = qkv_test::scratch_dir("checkpoint_buffers");
  Generator gen(31);
  Linear trained(LinearOptions{.in_features = 4, .out_features = 3, .sigma_reparam = true}, gen);
  REQUIRE(trained.named_buffers().size() == 2);
  // Move W, then take power steps: u and v now differ from what a fresh layer starts with.
  Tensor w = trained.parameter("weight");
  for (int64_t i = 0; i < w.numel(); ++i) w.data()[i] += static_cast<Scalar>(0.3 * gen.normal());
  trained.set_parameter("sigma.gamma", {0.7});
  trained(Tensor::ones({1, 4}));
  const std::string path = (dir / "c.safetensors").string();
  save_checkpoint(path, TrainingState{.model = &trained});

  Generator fresh_gen(31);
  Linear restored(LinearOptions{.in_features = 4, .out_features = 3, .sigma_reparam = true}, fresh_gen);
  CHECK(buffer_values(restored, "sigma.u") != buffer_values(trained, "sigma.u"));
  TrainingState state{.model = &restored};
  load_checkpoint(path, state);
  for (const char* name : {"sigma.u", "sigma.v"}) CHECK(buffer_values(restored, name) == buffer_values(trained, name));
  CHECK(restored.parameter("sigma.gamma").to_vector() == std::vector<Scalar>{Scalar(0.7)});

  // A checkpoint of the layer without σReparam lacks the buffers: refused, naming one.
  Generator plain_gen(31);
  Linear plain(LinearOptions{.in_features = 4, .out_features = 3}, plain_gen);
  const std::string plain_path = (dir / "plain.safetensors").string();
  save_checkpoint(plain_path, TrainingState{.model = &plain});
  CHECK_THROWS_WITH(load_checkpoint(plain_path, state), Catch::Contains("tensor 'model.sigma.gamma' is missing") ||
                                                            Catch::Contains("tensor 'model.sigma.u' is missing"));
}
