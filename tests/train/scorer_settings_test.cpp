// Settings of a registered scorer kind from a run config (model.scorer = {"kind": ..., ...}):
// validated like built-in keys, listed by --list-keys, recorded with their defaults in the
// resolved config so that --resume rebuilds the same scorer, and counted by the estimate.
#include <catch2/catch.hpp>

#include <cmath>
#include <iostream>
#include <sstream>
#include <string>

#include "cli.h"
#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;

namespace {

// cap * tanh(q.k / sqrt(d) / cap), times a learned gain per head when `learned`.
class SoftcapUserScorer : public Scorer {
 public:
  SoftcapUserScorer(double cap, bool learned, int64_t heads) : cap_(cap) {
    if (learned) gain_ = register_parameter("gain", Tensor::ones({heads, 1, 1}));
  }
  Tensor scores(const Tensor& q, const Tensor& k) override {
    const Tensor s = mul(matmul(q, k, {.transpose_b = true}), Scalar(1 / std::sqrt(double(q.size(-1)))));
    const Tensor capped = mul(tanh(mul(s, Scalar(1 / cap_))), Scalar(cap_));
    return gain_.defined() ? mul(capped, gain_) : capped;
  }
  double cap() const { return cap_; }

 private:
  double cap_;
  Tensor gain_;
};

void register_softcap_user() {
  register_scorer(
      "softcap_user",
      [](const ScorerOptions& o, Generator&) {
        return std::make_shared<SoftcapUserScorer>(o.settings.at("cap").get<double>(),
                                                   o.settings.at("learned").get<bool>(), o.heads);
      },
      {{.name = "cap", .type = ScorerSetting::Type::number, .default_value = 5, .min = 0.5, .max = 100,
        .doc = "c of c tanh(s / c)."},
       {.name = "learned", .type = ScorerSetting::Type::boolean, .default_value = false,
        .doc = "A learned gain per head."}});
}

json config_with(const json& scorer) {
  return {{"model", {{"scorer", scorer}, {"d_model", 8}, {"heads", 2}, {"layers", 2}}},
          {"task", {{"name", "copy"}, {"seq_len", 6}, {"vocab", 8}, {"eval_batches", 1}}}};
}

std::string error_of(const json& scorer, const std::vector<std::string>& sets = {}) {
  try {
    resolve_config(config_with(scorer), "test.json", sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("scorer settings: the object form builds the scorer with them, defaults filled in", "[config][scorer_settings]") {
  register_softcap_user();
  const RunConfig c = resolve_config(config_with({{"kind", "softcap_user"}, {"cap", 3}}), "test.json");
  CHECK(c.model.scorer == "softcap_user");
  CHECK(c.model.scorer_settings == json{{"cap", 3}, {"learned", false}});
  CHECK(c.resolved["model"]["scorer"] == json{{"kind", "softcap_user"}, {"cap", 3}, {"learned", false}});
  Generator gen(0);
  const auto model = build_model(c.model, *make_task(c.task), gen);
  for (const auto& [name, child] : model->children())
    if (name == "blocks") {
      Scorer& scorer = dynamic_cast<EncoderBlock&>(*child->children().at(0).second).attention().scorer();
      CHECK(dynamic_cast<SoftcapUserScorer&>(scorer).cap() == 3);
    }

  // The string form takes every default and is recorded as the object.
  const RunConfig by_name = resolve_config(config_with("softcap_user"), "test.json");
  CHECK(by_name.resolved["model"]["scorer"] == json{{"kind", "softcap_user"}, {"cap", 5}, {"learned", false}});
  // A kind without settings stays a string in the resolved config.
  CHECK(resolve_config(config_with({{"kind", "dot"}}), "test.json").resolved["model"]["scorer"] == "dot");
  // --set may give the whole object.
  const RunConfig set = resolve_config(config_with("dot"), "test.json", {R"(model.scorer={"kind": "softcap_user", "cap": 2})"});
  CHECK(set.model.scorer_settings["cap"] == 2);
  // Or one setting, into the object or the bare kind of the file.
  CHECK(resolve_config(config_with({{"kind", "softcap_user"}, {"cap", 3}}), "test.json", {"model.scorer.cap=7"})
            .model.scorer_settings == json{{"cap", 7}, {"learned", false}});
  CHECK(resolve_config(config_with("softcap_user"), "test.json", {"model.scorer.learned=true"}).model.scorer_settings ==
        json{{"cap", 5}, {"learned", true}});
  CHECK(error_of("softcap_user", {"model.scorer.cap=1000"}) ==
        "command line (--set model.scorer.cap=1000): model.scorer.cap: expected a number in [0.5, 100], found 1000");
  CHECK(error_of("dot", {"model.scorer.cap=3"}).find("model.scorer.cap: expected no settings (scorer \"dot\" takes none") !=
        std::string::npos);
  CHECK(error_of("softcap_user", {"model.scorer.cap.x=3"}).find("--set: expected a key path section.key") !=
        std::string::npos);
}

TEST_CASE("scorer settings: unknown names, ranges and types are reported like built-in keys", "[config][scorer_settings]") {
  register_softcap_user();
  CHECK(error_of({{"kind", "softcap_user"}, {"caap", 3}}) ==
        "test.json: model.scorer.caap: expected a setting of scorer \"softcap_user\" (cap, learned), "
        "found unknown setting \"caap\" (did you mean \"cap\"?)");
  CHECK(error_of({{"kind", "softcap_user"}, {"cap", 1000}}) ==
        "test.json: model.scorer.cap: expected a number in [0.5, 100], found 1000");
  CHECK(error_of({{"kind", "softcap_user"}, {"cap", "big"}}) ==
        "test.json: model.scorer.cap: expected a number in [0.5, 100], found \"big\" (a string)");
  CHECK(error_of({{"kind", "softcap_user"}, {"learned", 1}}) ==
        "test.json: model.scorer.learned: expected true or false, found 1");
  CHECK(error_of({{"cap", 3}}) ==
        "test.json: model.scorer.kind: expected " + find_key_spec("model", "scorer")->expected() +
            " (the object form of model.scorer names its kind), found nothing");
  CHECK(error_of({{"kind", "softcap_usr"}}).find("model.scorer: expected one of") != std::string::npos);
  CHECK(error_of({{"kind", "softcap_usr"}}).find("(did you mean \"softcap_user\"?)") != std::string::npos);
  CHECK(error_of({{"kind", "dot"}, {"cap", 3}}) ==
        "test.json: model.scorer.cap: expected no settings (scorer \"dot\" takes none; give model.scorer as "
        "\"dot\"), found unknown setting \"cap\"");
  // A setting given on the command line is reported against it.
  CHECK(error_of("dot", {R"(model.scorer={"kind": "softcap_user", "cap": 0})"})
            .rfind("command line (--set model.scorer={\"kind\": \"softcap_user\", \"cap\": 0}): model.scorer.cap: "
                   "expected a number in [0.5, 100], found 0", 0) == 0);
}

TEST_CASE("scorer settings: --list-keys lists a registered kind's settings", "[config][scorer_settings]") {
  register_softcap_user();
  const std::string text = config_schema_text();
  CHECK(text.find("model.scorer.cap  (a number in [0.5, 100]; default 5; only when model.scorer is \"softcap_user\")\n"
                  "    c of c tanh(s / c).\n") != std::string::npos);
  CHECK(text.find("model.scorer.learned  (true or false; default false;") != std::string::npos);
  // After model.scorer, before the next key.
  CHECK(text.find("model.scorer.cap") > text.find("model.scorer  ("));
  CHECK(text.find("model.scorer.cap") < text.find("model.scale  ("));
}

TEST_CASE("scorer settings: the parameter estimate counts a registered scorer's parameters", "[config][scorer_settings]") {
  register_softcap_user();
  const RunConfig fixed = resolve_config(config_with({{"kind", "softcap_user"}, {"learned", false}}), "test.json");
  const RunConfig learned = resolve_config(config_with({{"kind", "softcap_user"}, {"learned", true}}), "test.json");
  const TaskSizes task = TaskSizes::of(*make_task(fixed.task));
  // One gain per head in each of the 2 layers.
  CHECK(estimated_parameter_count(learned.model, task) - estimated_parameter_count(fixed.model, task) == 2 * 2);
}

TEST_CASE("scorer settings: run_train_cli trains, resumes and evaluates with them", "[config][scorer_settings][cli]") {
  register_softcap_user();
  const std::string dir = qkv_test::scratch_dir("scorer_settings");
  json config = config_with({{"kind", "softcap_user"}, {"cap", 2.5}});
  config["train"] = {{"steps", 3}, {"batch_size", 4}, {"threads", 1}, {"plots", false}, {"out_dir", dir + "/run"}};
  std::ofstream(dir + "/config.json") << config.dump();
  const auto cli = [](std::vector<std::string> args) {
    args.insert(args.begin(), "scorer_settings_test");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    std::ostringstream captured;
    std::streambuf* saved = std::cout.rdbuf(captured.rdbuf());
    const int code = run_train_cli(static_cast<int>(argv.size()), argv.data());
    std::cout.rdbuf(saved);
    return std::make_pair(code, captured.str());
  };
  REQUIRE(cli({dir + "/config.json"}).first == 0);
  const json recorded = json::parse(qkv_test::slurp(dir + "/run/config.json"));
  CHECK(recorded["model"]["scorer"] == json{{"kind", "softcap_user"}, {"cap", 2.5}, {"learned", false}});
  REQUIRE(cli({"--resume", dir + "/run", "--set", "train.steps=5"}).first == 0);
  CHECK(qkv_test::jsonl_rows(dir + "/run/metrics.jsonl").size() == 5);
  const RunConfig resumed = load_run_config(dir + "/run");
  CHECK(resumed.model.scorer_settings["cap"] == 2.5);
  const auto [code, out] = cli({"--eval", dir + "/run", "--examples", "1"});
  CHECK(code == 0);
  CHECK(out.find("softcap_user scorer") != std::string::npos);
  const auto [list_code, keys] = cli({"--list-keys"});
  CHECK(list_code == 0);
  CHECK(keys.find("model.scorer.cap  (a number in [0.5, 100]") != std::string::npos);
}
