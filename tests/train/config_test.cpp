#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;

namespace {
// The single problem a config has, or a failure naming what happened instead.
std::string only_problem(const json& config, const std::vector<std::string>& sets = {}) {
  try {
    resolve_config(config, "run.json", sets);
  } catch (const ConfigError& e) {
    INFO(e.what());
    REQUIRE(e.problems().size() == 1);
    return e.problems()[0];
  }
  FAIL("the config was accepted");
  return "";
}

std::string parse_problem(const std::string& text) {
  try {
    parse_config(text, "run.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  FAIL("the text was accepted");
  return "";
}

const json kMinimal = {{"task", {{"name", "copy"}}}};

json with(const std::string& section, const std::string& key, json value) {
  json config = kMinimal;
  config[section][key] = std::move(value);
  return config;
}
}  // namespace

TEST_CASE("a minimal config resolves every default", "[config]") {
  const RunConfig c = resolve_config(kMinimal, "run.json");
  CHECK(c.model.scorer == "scaled_dot");
  CHECK(c.model.d_model == 64);
  CHECK(c.model.heads == 4);
  CHECK(c.model.d_head == 16);  // d_model / heads
  CHECK(c.model.d_ff == 256);   // 4 * d_model
  CHECK(c.model.scale == Approx(0.25));  // 1 / sqrt(16)
  CHECK(c.model.positional == PositionKind::sinusoidal);
  CHECK(c.task.name == "copy");
  CHECK(c.task.seq_len == SequenceOptions{}.seq_len);
  CHECK(c.task.vocab == 32);
  CHECK(c.optimizer.name == OptimizerKind::adam);
  CHECK(c.optimizer.lr == Approx(1e-3));
  CHECK(c.optimizer.beta2 == Approx(0.999));
  CHECK(c.schedule.name == ScheduleKind::constant);
  CHECK(c.train.steps == 1000);
  CHECK(c.train.out_dir == "runs/default");
  // The resolved JSON holds every applicable key, and no key of another scorer/optimizer.
  const json& r = c.resolved;
  for (const KeySpec& spec : config_schema()) {
    if (spec.only_when || spec.path() == "train.init_from") continue;  // init_from: absent unless given
    INFO(spec.path());
    CHECK(r[spec.section].contains(spec.key));
  }
  CHECK(r["model"]["scale"] == "sqrt_dk");
  CHECK_FALSE(r["model"].contains("additive_hidden"));
  CHECK_FALSE(r["optimizer"].contains("momentum"));
  CHECK(r["optimizer"].contains("beta1"));
  CHECK_FALSE(r["task"].contains("pairs"));
  // Resolving the resolved JSON is a fixed point: a run folder's config re-runs as is.
  CHECK(resolve_config(r, "resolved.json").resolved == r);
}

TEST_CASE("derived and per-choice defaults follow the other keys", "[config]") {
  json config = kMinimal;
  config["model"] = {{"scorer", "additive"}, {"d_model", 48}, {"heads", 3}};
  config["schedule"] = {{"name", "exponential"}};
  config["task"] = {{"name", "recall"}, {"pairs", 5}};
  const RunConfig c = resolve_config(config, "run.json");
  CHECK(c.model.d_head == 16);
  CHECK(c.model.additive_hidden == 16);
  CHECK(c.model.scale == Approx(0.25));  // the default sqrt_dk, which the additive scorer ignores
  CHECK(c.schedule.gamma == Approx(0.999));
  CHECK(c.task.seq_len == 11);
  CHECK(c.task.options == json{{"seq_len", 11}, {"vocab", 32}, {"pairs", 5}});
  CHECK(make_task(c.task)->seq_len() == 11);
  // An explicit d_head lifts the divisibility requirement.
  config["model"]["d_head"] = 20;
  CHECK(resolve_config(config, "run.json").model.d_head == 20);
  CHECK(resolve_config(with("model", "scale", 0.5), "run.json").model.scale == 0.5);
  CHECK(resolve_config(with("model", "scale", "none"), "run.json").model.scale == 1);
}

TEST_CASE("unknown keys are named with a suggestion", "[config]") {
  CHECK(only_problem(with("model", "dropuot", 0.1)) ==
        "run.json: model.dropuot: expected a key of model (scorer, scale, additive_hidden, "
        "relative_bias, relative_window, relative_buckets, relative_max_distance, positional, "
        "d_model, heads, d_head, layers, d_ff, dropout, activation, causal, kv_heads, window, softcap, sink, "
          "normalizer, sigma_reparam, init, init_std), "
        "found unknown key \"dropuot\" (did you mean \"dropout\"?)");
  CHECK_THAT(only_problem(with("model", "lr", 0.1)),
             Catch::Contains("found unknown key \"lr\" (did you mean \"optimizer.lr\"?)"));
  json bad_section = kMinimal;
  bad_section["optimiser"] = json::object();
  CHECK_THAT(only_problem(bad_section),
             Catch::StartsWith("run.json: optimiser: expected a section (model, task, optimizer, "
                               "schedule, train, probes), found unknown section \"optimiser\" (did you "
                               "mean \"optimizer\"?)"));
  CHECK_THAT(only_problem(with("model", "scorer", "dott")),
             Catch::Contains("model.scorer: expected one of \"additive\", \"dot\", \"general\", "
                             "\"scaled_dot\", \"mup_dot\", \"qk_norm\", \"learned_temperature\"") &&
                 Catch::Contains("register_scorer()), found \"dott\" (a string) (did you mean \"dot\"?)"));
}

TEST_CASE("wrong types name the expected type and the value found", "[config]") {
  CHECK(only_problem(with("model", "dropout", "0.1")) ==
        "run.json: model.dropout: expected a number in [0, 1), found \"0.1\" (a string)");
  CHECK(only_problem(with("model", "d_model", 64.5)) ==
        "run.json: model.d_model: expected an integer in [1, 65536], found 64.5");
  CHECK(only_problem(with("model", "causal", 1)) ==
        "run.json: model.causal: expected true or false, found 1");
  CHECK(only_problem(with("train", "out_dir", json::array({"a"}))) ==
        "run.json: train.out_dir: expected a non-empty string, found [\"a\"] (an array)");
  CHECK(only_problem({{"task", {{"name", "copy"}}}, {"model", 3}}) ==
        "run.json: model: expected an object of model keys, found 3");
  CHECK_THAT(only_problem(json::array()), Catch::Contains("(top level): expected an object"));
  // An integer written as a float with no fraction is an integer.
  CHECK(resolve_config(with("train", "steps", 200.0), "run.json").train.steps == 200);
}

TEST_CASE("out-of-range values are rejected", "[config]") {
  CHECK(only_problem(with("model", "dropout", 1.0)) ==
        "run.json: model.dropout: expected a number in [0, 1), found 1.0");
  CHECK(only_problem(with("model", "d_head", 0)) ==
        "run.json: model.d_head: expected an integer in [1, 65536], found 0");
  CHECK(only_problem(with("optimizer", "lr", 0)) ==
        "run.json: optimizer.lr: expected a number > 0, found 0");
  CHECK(only_problem(with("model", "scale", -2)) ==
        "run.json: model.scale: expected \"sqrt_dk\", \"none\" or a number > 0, found -2");
  CHECK(only_problem(with("train", "batch_size", -1)) ==
        "run.json: train.batch_size: expected an integer in [1, 1000000], found -1");
}

TEST_CASE("heads must divide d_model unless d_head is given", "[config]") {
  json config = kMinimal;
  config["model"] = {{"d_model", 64}, {"heads", 5}};
  CHECK(only_problem(config) ==
        "run.json: model.heads: expected a divisor of model.d_model (64) when model.d_head is "
        "not given, found 5");
}

TEST_CASE("an option of another scorer, optimizer, schedule or task is an error", "[config]") {
  CHECK(only_problem(with("model", "additive_hidden", 32)) ==
        "run.json: model.additive_hidden: expected only with model.scorer \"additive\", found it "
        "with model.scorer \"scaled_dot\"");
  json config = kMinimal;
  config["model"] = {{"scorer", "dot"}, {"scale", "sqrt_dk"}};
  CHECK_THAT(only_problem(config), Catch::Contains("model.scale: expected only with model.scorer "
                                                   "\"scaled_dot\" or \"learned_temperature\", found it with model.scorer \"dot\""));
  config = kMinimal;
  config["optimizer"] = {{"name", "adam"}, {"momentum", 0.9}};
  CHECK(only_problem(config) ==
        "run.json: optimizer.momentum: expected only with optimizer.name \"sgd\" or \"rmsprop\", "
        "found it with optimizer.name \"adam\"");
  CHECK_THAT(only_problem(with("schedule", "warmup_steps", 10)),
             Catch::Contains("schedule.warmup_steps: expected only with schedule.name "
                             "\"warmup_cosine\" or \"warmup_linear\", found it with schedule.name "
                             "\"constant\""));
  CHECK_THAT(only_problem(with("task", "pairs", 3)),
             Catch::Contains("task.pairs: expected only with task.name \"recall\", found it with "
                             "task.name \"copy\""));
}

TEST_CASE("missing required keys are reported", "[config]") {
  CHECK(only_problem(json::object()) ==
        "run.json: task.name: expected one of \"recall\", \"copy\", \"reverse\", \"shift\", "
        "\"sort\", \"pixels\" (a required key), found nothing");
}

TEST_CASE("task constraints and cross-key rules are reported under the key's path", "[config]") {
  json config = kMinimal;
  config["task"] = {{"name", "shift"}, {"seq_len", 8}, {"shift", 8}};
  CHECK(only_problem(config) == "run.json: task.shift: expected in [0, seq_len) = [0, 8), found 8");
  config["task"] = {{"name", "recall"}, {"pairs", 8}, {"seq_len", 10}};
  CHECK_THAT(only_problem(config), Catch::StartsWith("run.json: task.seq_len: expected at least "
                                                     "2 * pairs + 1 = 17"));
  CHECK_THAT(only_problem(with("task", "eval_seed", 0)),
             Catch::Contains("task.eval_seed: expected a seed other than train.seed (0)"));
  config = kMinimal;
  config["schedule"] = {{"name", "warmup_linear"}, {"warmup_steps", 50}};
  config["train"] = {{"steps", 20}};
  CHECK(only_problem(config) ==
        "run.json: schedule.warmup_steps: expected at most train.steps (20), found 50");
  config = kMinimal;
  config["optimizer"] = {{"name", "sgd"}, {"nesterov", true}};
  CHECK_THAT(only_problem(config), Catch::Contains("optimizer.nesterov: expected optimizer.momentum > 0"));
}

TEST_CASE("all problems are collected into one error", "[config]") {
  json config = {{"model", {{"dropout", 2}, {"heads", "four"}}}};
  try {
    resolve_config(config, "run.json");
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(e.problems().size() == 3);
    CHECK_THAT(e.what(), Catch::StartsWith("3 problems in the config:") &&
                             Catch::Contains("model.dropout") && Catch::Contains("model.heads") &&
                             Catch::Contains("task.name"));
  }
}

TEST_CASE("malformed JSON names the line and column", "[config]") {
  // Line 2 is `  "task": {"name": "copy",}`: the stray } is its 27th character.
  CHECK_THAT(parse_problem("{\n  \"task\": {\"name\": \"copy\",}\n}"),
             Catch::StartsWith("run.json:2:27: malformed JSON at line 2, column 27: "));
  CHECK_THAT(parse_problem("{\n\n   \"model\": [1, 2\n}"),
             Catch::StartsWith("run.json:4:1: malformed JSON at line 4, column 1:"));
  CHECK_THAT(parse_problem(""), Catch::StartsWith("run.json:1:1: malformed JSON"));
  const TextPosition p = text_position("ab\ncd\nef", 7);
  CHECK(p.line == 3);
  CHECK(p.column == 2);
}

TEST_CASE("command-line --set overrides any key and is validated the same way", "[config]") {
  const RunConfig c = resolve_config(
      kMinimal, "run.json",
      {"optimizer.lr=3e-4", "model.scorer=additive", "model.causal=true", "train.out_dir=\"x y\"",
       "train.steps=1e4", "schedule.name=step"});
  CHECK(c.optimizer.lr == Approx(3e-4));
  CHECK(c.model.scorer == "additive");
  CHECK(c.model.causal);
  CHECK(c.train.out_dir == "x y");
  CHECK(c.train.steps == 10000);
  CHECK(c.resolved["train"]["steps"].is_number_integer());
  CHECK(c.schedule.gamma == Approx(0.1));

  CHECK(only_problem(kMinimal, {"model.dropout=2"}) ==
        "command line (--set model.dropout=2): model.dropout: expected a number in [0, 1), found 2");
  CHECK_THAT(only_problem(kMinimal, {"model.dropuot=0.1"}),
             Catch::StartsWith("command line (--set model.dropuot=0.1): model.dropuot: expected "
                               "a key of model") &&
                 Catch::EndsWith("(did you mean \"dropout\"?)"));
  CHECK(only_problem(kMinimal, {"lr"}) ==
        "command line (--set lr): --set: expected section.key=value, found \"lr\" (no '=')");
  CHECK(only_problem(kMinimal, {"lr=0.1"}) ==
        "command line (--set lr=0.1): --set: expected a key path section.key (e.g. "
        "optimizer.lr), found \"lr\"");
  CHECK_THAT(only_problem(kMinimal, {"optimzer.lr=0.1"}),
             Catch::StartsWith("command line (--set optimzer.lr=0.1): optimzer: expected a section"));
  // The file's own problems keep the file as their source.
  CHECK_THAT(only_problem(with("model", "heads", 5), {"optimizer.lr=0.1"}),
             Catch::StartsWith("run.json: model.heads"));
  // A --set can supply a required key.
  CHECK(resolve_config(json::object(), "run.json", {"task.name=sort"}).task.name == "sort");
}

TEST_CASE("command-line --set arguments are collected from a command line", "[config]") {
  const char* argv[] = {"train", "cfg.json", "--set", "a.b=1", "--threads", "--set=c.d=x"};
  CHECK(set_arguments(6, argv) == std::vector<std::string>{"a.b=1", "c.d=x"});
  const char* dangling[] = {"train", "--set"};
  CHECK_THROWS_AS(set_arguments(2, dangling), ConfigError);
}

TEST_CASE("edit distance", "[config]") {
  CHECK(edit_distance("dropout", "dropout") == 0);
  CHECK(edit_distance("dropuot", "dropout") == 2);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("", "abc") == 3);
}

TEST_CASE("load_config reads files and names them", "[config]") {
  const std::filesystem::path dir = std::filesystem::path(QKV_BINARY_DIR) / "config_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "bad.json").string();
  std::ofstream(path) << "{\"task\": {\"name\": \"copy\"}, \"train\": {\"steps\": 0}}";
  CHECK_THROWS_WITH(load_config(path),
                    path + ": train.steps: expected an integer >= 1, found 0");
  CHECK_THROWS_WITH(load_config((dir / "absent.json").string()),
                    Catch::Contains("absent.json: cannot open the config file"));
}

TEST_CASE("every run config in configs/ is valid", "[config]") {
  const auto paths = qkv_test::run_config_paths();
  for (const auto& path : paths) {
    INFO(path.string());
    CHECK_NOTHROW(load_config(path.string()));
  }
  CHECK(paths.size() >= 12);  // example + 5 scorers + 6 tasks
}

TEST_CASE("docs/config_keys.md is the rendered schema", "[config][docs]") {
  const std::string path = std::string(QKV_SOURCE_DIR) + "/docs/config_keys.md";
  const std::string begin = "<!-- config-keys:begin -->\n", end = "<!-- config-keys:end -->";
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  std::string doc = text.str();
  const size_t from = doc.find(begin), to = doc.find(end);
  REQUIRE(from != std::string::npos);
  REQUIRE(to != std::string::npos);
  const std::string rendered = config_schema_markdown();
  if (std::getenv("QKV_UPDATE_DOCS")) {
    doc.replace(from + begin.size(), to - from - begin.size(), rendered);
    std::ofstream(path, std::ios::binary) << doc;
  }
  INFO("regenerate with: QKV_UPDATE_DOCS=1 build/tests/train_tests \"[docs]\"");
  CHECK(doc.substr(from + begin.size(), to - from - begin.size()) == rendered);
}

TEST_CASE("every schema key sets its RunConfig field through its own row", "[config]") {
  for (const KeySpec& spec : config_schema()) {
    INFO(spec.path());
    CHECK(static_cast<bool>(spec.assign));
  }
  // One key per section, set away from its default, reaches its field.
  json config = kMinimal;
  config["model"]["d_ff"] = 40;
  config["task"]["eval_batches"] = 3;
  config["optimizer"]["weight_decay"] = 0.25;
  config["schedule"] = {{"name", "step"}, {"step_size", 7}};
  config["train"]["grad_clip"] = 0.5;
  config["probes"] = {{"interval", 9}};
  const RunConfig c = resolve_config(config, "run.json");
  CHECK(c.model.d_ff == 40);
  CHECK(c.task.eval_batches == 3);
  CHECK(c.optimizer.weight_decay == 0.25);
  CHECK(c.schedule.step_size == 7);
  CHECK(c.train.grad_clip == 0.5);
  CHECK(c.probes.interval == 9);
}

TEST_CASE("model.scale sqrt_dk is the scale the layers compute for d_head", "[config]") {
  for (int64_t d_head : {8, 16, 24, 32}) {
    json config = kMinimal;
    config["model"] = {{"d_model", 2 * d_head}, {"heads", 2}};
    INFO("d_head " << d_head);
    CHECK(resolve_config(config, "run.json").model.scale == ScoreScale::inverse_sqrt_dk().value(d_head));
  }
}

TEST_CASE("schema defaults agree with the tasks' own defaults", "[config]") {
  for (const std::string& name : {"recall", "copy", "reverse", "shift", "sort"})
    CHECK(make_task(name, json::object())->vocab_size() == find_key_spec("task", "vocab")->default_value);
  // Every key without a fixed default is required or derived.
  for (const KeySpec& spec : config_schema()) {
    INFO(spec.path());
    CHECK((spec.required || !spec.derived_default.empty() || !spec.default_value.is_null()));
    CHECK(!spec.doc.empty());
  }
}

TEST_CASE("attention variants: kv_heads must divide heads, and a sink needs a softmax", "[config]") {
  json grouped = kMinimal;
  grouped["model"]["heads"] = 4;
  grouped["model"]["kv_heads"] = 3;
  CHECK(only_problem(grouped) == "run.json: model.kv_heads: expected a divisor of model.heads (4), found 3");
  json sink = kMinimal;
  sink["model"]["sink"] = true;
  sink["model"]["normalizer"] = "sigmoid";
  CHECK(only_problem(sink) ==
        "run.json: model.sink: expected false with model.normalizer \"sigmoid\" (a sink is a softmax logit), found true");
  json probed = kMinimal;
  probed["model"]["normalizer"] = "sigmoid";
  probed["probes"] = {{"interval", 25}};
  CHECK(only_problem(probed) == "run.json: probes.interval: expected 0 with model.normalizer \"sigmoid\" (the probes "
                                "measure softmax weights: entropy, the softmax's Jacobian), found 25");
  CHECK_THAT(only_problem(with("model", "normalizer", "sparsemax")),
             Catch::Contains("model.normalizer: expected one of \"softmax\", \"sigmoid\""));
}
