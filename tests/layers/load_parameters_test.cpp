// Parameters like a state dict: load_parameters (checked before anything is copied),
// set_parameter from double data, a safetensors round trip, and the typed accessors.
#include <catch2/catch.hpp>

#include <filesystem>

#include "test_helpers.h"

using namespace qkv;

namespace {
SequenceModel small_model(uint64_t seed) {
  Generator gen(seed);
  return SequenceModel({.vocab_size = 5, .num_classes = 3, .max_len = 4, .d_model = 8, .heads = 2,
                        .scorer = {.kind = "general"}},
                       gen);
}
}  // namespace

TEST_CASE("load_parameters copies a model's parameters into another", "[layers][parameters]") {
  SequenceModel source = small_model(1), target = small_model(2);
  const Indices ids = Indices::from({0, 1, 2, 3}, {1, 4});
  const Tensor kept = target.parameter("head.weight");
  const LoadParametersResult r = load_parameters(target, source.named_parameters());
  CHECK(r.missing.empty());
  CHECK(r.unexpected.empty());
  CHECK_CLOSE(target.forward(ids).logits, source.forward(ids).logits, 0);
  CHECK(target.parameter("head.weight").data() == kept.data());  // the same tensor, new values
}

TEST_CASE("load_parameters names the parameter and both shapes, and changes nothing on error", "[layers][parameters]") {
  SequenceModel model = small_model(3);
  const std::vector<Scalar> before = model.parameter("norm.weight").to_vector();
  auto tensors = model.named_parameters();
  std::vector<std::pair<std::string, Tensor>> bad{{"norm.weight", Tensor::zeros({8})},
                                                  {"head.weight", Tensor::zeros({3, 8})},
                                                  {"head.bais", Tensor::zeros({3})}};
  CHECK_THROWS_WITH(load_parameters(model, bad),
                    Catch::Contains("'head.weight' is [8, 3] in the module but [3, 8] in the given tensors") &&
                        Catch::Contains("'head.bais' is not a parameter") &&
                        Catch::Contains("parameter 'head.bias' is missing"));
  CHECK(model.parameter("norm.weight").to_vector() == before);
  // Not strict: missing and unexpected names are returned, shapes are still checked.
  bad.erase(bad.begin() + 1);
  const LoadParametersResult r = load_parameters(model, bad, /*strict=*/false);
  CHECK(r.unexpected == std::vector<std::string>{"head.bais"});
  CHECK(r.missing.size() == tensors.size() - 1);
  CHECK(model.parameter("norm.weight").to_vector() == std::vector<Scalar>(8, 0));
}

TEST_CASE("set_parameter takes double data and checks its size", "[layers][parameters]") {
  LayerNorm norm({.dim = 3});
  norm.set_parameter("weight", {0.5, 1.5, 2.5});
  CHECK(norm.weight().at({2}) == Approx(2.5));
  CHECK(norm.bias().shape() == Shape{3});
  CHECK_THROWS_WITH(norm.set_parameter("bias", {1, 2}), Catch::Contains("'bias' is [3] (3 values), got with 2 values"));
  CHECK_THROWS_WITH(norm.set_parameter("bias", {1, 2, 3}, {3, 1}), Catch::Contains("got [3, 1] with 3 values"));
}

TEST_CASE("parameters round-trip through a safetensors file", "[layers][parameters]") {
  const auto path = std::filesystem::path(QKV_BINARY_DIR) / "test-scratch" / "parameters.safetensors";
  std::filesystem::create_directories(path.parent_path());
  SequenceModel source = small_model(4), target = small_model(5);
  save_parameters_file(path.string(), source);
  load_parameters_file(path.string(), target);
  for (const auto& [name, p] : source.named_parameters()) CHECK(target.parameter(name).to_vector() == p.to_vector());
  LayerNorm other({.dim = 3});
  CHECK_THROWS_WITH(load_parameters_file(path.string(), other), Catch::Contains("nothing was loaded"));
}

TEST_CASE("typed accessors are the registered parameters", "[layers][parameters]") {
  Generator gen(6);
  GeneralScorer general({.heads = 2, .d_q = 3, .d_k = 4}, gen);
  CHECK(general.weight().data() == general.parameter("weight").data());
  AdditiveScorer additive({.heads = 2, .d_q = 3, .d_k = 4, .hidden = 5}, gen);
  CHECK(additive.query_weight().shape() == Shape{2, 3, 5});
  CHECK(additive.key_weight().data() == additive.parameter("key_weight").data());
  CHECK(additive.v().shape() == Shape{2, 5, 1});
  LearnedTemperatureScorer tau({.heads = 2, .d_k = 4});
  CHECK(tau.log_temperature().data() == tau.parameter("log_temperature").data());
}
