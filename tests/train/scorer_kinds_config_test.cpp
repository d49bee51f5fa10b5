// The scorer kinds and positions of issue 10 are usable from a run config: the schema
// accepts them, and the model built from the config scores with them.
#include <catch2/catch.hpp>

#include <string>

#include "qkv.h"

using namespace qkv;

namespace {
std::shared_ptr<SequenceModel> model_from(const std::string& model_json) {
  const RunConfig c = parse_config(R"({"task": {"name": "shift", "seq_len": 6, "vocab": 5},
                                       "model": )" + model_json + "}",
                                   "test.json");
  Generator gen(0);
  return build_model(c.model, *make_task(c.task.name, c.task.options), gen);
}
}  // namespace

TEST_CASE("model.scorer mup_dot, qk_norm and learned_temperature build from a config", "[config]") {
  auto qk_norm = model_from(R"({"scorer": "qk_norm", "d_model": 8, "heads": 2})");
  CHECK(qk_norm->parameter("blocks.0.attn.scorer.scale").shape() == Shape{2});
  // g starts at sqrt(d_head) = 2: model.init re-draws weight matrices, not this vector.
  CHECK(qk_norm->parameter("blocks.0.attn.scorer.scale").at({1}) == Approx(2));
  // learned_temperature starts from model.scale: "none" is 1, so log_temperature is 0.
  auto tau = model_from(R"({"scorer": "learned_temperature", "scale": "none", "d_model": 8, "heads": 2})");
  CHECK(tau->parameter("blocks.1.attn.scorer.log_temperature").at({1}) == Approx(0));
  auto mup = model_from(R"({"scorer": "mup_dot", "d_model": 8, "heads": 2})");
  CHECK(mup->options().scorer.kind == "mup_dot");
}

TEST_CASE("model.positional rope and alibi go into every layer's scorer", "[config]") {
  for (const char* kind : {"rope", "alibi"}) {
    INFO(kind);
    auto model = model_from(std::string(R"({"d_model": 8, "heads": 2, "layers": 2, "positional": ")") + kind + "\"}");
    Module* blocks = nullptr;
    for (const auto& [name, child] : model->children())
      if (name == "blocks") blocks = child.get();
    REQUIRE(blocks != nullptr);
    REQUIRE(blocks->children().size() == 2);
    for (const auto& [_, block] : blocks->children()) {
      Scorer& scorer = dynamic_cast<EncoderBlock&>(*block).attention().scorer();
      CHECK((std::string(kind) == "rope" ? dynamic_cast<RotaryScorer*>(&scorer) != nullptr
                                         : dynamic_cast<AlibiScorer*>(&scorer) != nullptr));
    }
  }
  CHECK_THROWS_WITH(parse_config(R"({"task": {"name": "shift"}, "model": {"positional": "rotary"}})", "bad.json"),
                    Catch::Contains("model.positional") && Catch::Contains("\"rope\""));
}
