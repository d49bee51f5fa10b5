// plot_runs reading metrics.jsonl and probes.jsonl (issue 22): every malformed row is a
// RunLogError naming the file, the line and the field with what was expected and found,
// never nlohmann's own type_error; a FIFO is refused at once; sizes past the limits are
// refused in bounded time.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {
const std::string kGoodMetrics = R"({"step": 1, "loss": 2.5, "accuracy": 0.1, "lr": 0.01, "grad_norm": 3})";
const std::string kGoodProbes =
    R"({"step": 1, "attention": [[{"entropy": 1, "jacobian_norm": 0.5, "dead_fraction": 0, "max_weight": 0.9}]],)"
    R"( "parameters": {"w": {"grad_norm": 0.1, "update_ratio": 0.01}}})";

// The message of the error reading `text` as line 2 of a file whose line 1 is good.
template <class Parse>
std::string refusal(Parse parse, const std::string& good, const std::string& row) {
  try {
    parse(good + "\n" + row + "\n", "run/x.jsonl");
  } catch (const RunLogError& e) {
    return e.what();
  }
  FAIL("accepted: " << row);
  return "";
}
}  // namespace

TEST_CASE("well-formed metrics and probes rows read back", "[run_logs]") {
  const std::vector<MetricsRow> rows =
      parse_metrics_jsonl(kGoodMetrics + "\n\n" + R"({"step": 2, "loss": null, "eval_loss": 1.5})" + "\n", "m");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].loss == 2.5);
  CHECK(std::isnan(rows[1].loss));  // null: how JSON writes a NaN
  CHECK(std::isnan(rows[1].accuracy));
  CHECK(rows[1].eval_loss == 1.5);
  CHECK_FALSE(rows[1].eval_accuracy);

  const ProbesTable table = parse_probes_jsonl(kGoodProbes + "\n" + kGoodProbes + "\n", "p");
  CHECK(table.heads_per_layer == std::vector<size_t>{1});
  CHECK(table.parameters == std::vector<std::string>{"w"});
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[1].attention == std::vector<double>{1, 0.5, 0, 0.9});
  CHECK(table.rows[1].parameters == std::vector<double>{0.1, 0.01});
}

TEST_CASE("malformed metrics rows name the file, line and field", "[run_logs]") {
  const auto metrics = [](const std::string& row) { return refusal(parse_metrics_jsonl, kGoodMetrics, row); };
  const std::string at = "run/x.jsonl:2: ";
  CHECK(metrics(R"({"step": "3"})") == at + "field 'step': expected a non-negative integer, found string \"3\"");
  CHECK(metrics(R"({"step": null})") == at + "field 'step': expected a non-negative integer, found null");
  CHECK(metrics(R"({"step": true})") == at + "field 'step': expected a non-negative integer, found boolean true");
  CHECK(metrics(R"({"step": 1.5})") == at + "field 'step': expected a non-negative integer, found number 1.5");
  CHECK(metrics(R"({"step": -1})") == at + "field 'step': expected a non-negative integer, found number -1");
  CHECK(metrics(R"({"loss": 1})") ==
        at + "field 'step': expected a non-negative integer, found nothing (the field is missing)");
  CHECK(metrics(R"({"step": 2, "loss": "low"})") == at + "field 'loss': expected a number or null, found string \"low\"");
  CHECK(metrics(R"({"step": 2, "eval_accuracy": [1]})") ==
        at + "field 'eval_accuracy': expected a number or null, found array [1]");
  CHECK(metrics(R"([1, 2])") == at + "expected a JSON object (a row), found array [1,2]");
  CHECK_THAT(metrics(R"({"step": 2, )"), StartsWith(at + "malformed JSON at byte "));
  CHECK_THAT(metrics("{\"step\": 2, \"loss\": \"\xff\"}"), StartsWith(at + "the line is not UTF-8 text"));
}

TEST_CASE("malformed probes rows name the file, line and field", "[run_logs]") {
  const auto probes = [](const std::string& row) { return refusal(parse_probes_jsonl, kGoodProbes, row); };
  const std::string at = "run/x.jsonl:2: ";
  const std::string head = R"({"entropy": 1, "jacobian_norm": 0.5, "dead_fraction": 0, "max_weight": 0.9})";
  const std::string params = R"("parameters": {"w": {"grad_norm": 0.1}})";
  CHECK(probes(R"({"step": "2", "attention": [], "parameters": {}})") ==
        at + "field 'step': expected a non-negative integer, found string \"2\"");
  CHECK(probes(R"({"step": 2, )" + params + "}") ==
        at + "field 'attention': expected an array of layers, each an array of heads, found nothing (the field is missing)");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + "]]}") ==
        at + "field 'parameters': expected an object of parameter names, found nothing (the field is missing)");
  CHECK(probes(R"({"step": 2, "attention": {"a": 1}, )" + params + "}") ==
        at + "field 'attention': expected an array of layers, each an array of heads, found object {\"a\":1}");
  CHECK(probes(R"({"step": 2, "attention": [7], )" + params + "}") ==
        at + "field 'attention[0]': expected an array of heads, found number 7");
  CHECK(probes(R"({"step": 2, "attention": [["h"]], )" + params + "}") ==
        at + "field 'attention[0][0]': expected an object of entropy, jacobian_norm, dead_fraction and max_weight, "
             "found string \"h\"");
  CHECK(probes(R"({"step": 2, "attention": [[{"entropy": "x"}]], )" + params + "}") ==
        at + "field 'attention[0][0].entropy': expected a number or null, found string \"x\"");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + "," + head + "]], " + params + "}") ==
        at + "field 'attention[0]': expected 1 heads as on line 1, found 2 heads");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + "],[" + head + "]], " + params + "}") ==
        at + "field 'attention': expected 1 layers as on line 1, found 2 layers");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + R"(]], "parameters": [1]})") ==
        at + "field 'parameters': expected an object of parameter names, found array [1]");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + R"(]], "parameters": {"w": 3}})") ==
        at + "field 'parameters.\"w\"': expected an object of grad_norm and update_ratio, found number 3");
  CHECK(probes(R"({"step": 2, "attention": [[)" + head + R"(]], "parameters": {"w": {"grad_norm": false}}})") ==
        at + "field 'parameters.\"w\".grad_norm': expected a number or null, found boolean false");
}

TEST_CASE("sizes past the limits are refused naming the limit, in bounded time", "[run_logs]") {
  const auto probes_error = [](const std::string& text) {
    try {
      parse_probes_jsonl(text, "p.jsonl");
    } catch (const RunLogError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // 10,000 heads in one layer: plotting them had not finished after 60 s.
  const std::string head = R"({"entropy": 1, "jacobian_norm": 0.5, "dead_fraction": 0, "max_weight": 0.9})";
  std::string row = R"({"step": 1, "attention": [[)";
  for (int h = 0; h < 10000; ++h) row += (h ? "," : "") + head;
  row += R"(]], "parameters": {}})";
  const auto start = std::chrono::steady_clock::now();
  CHECK(probes_error(row) == "p.jsonl:1: field 'attention': expected at most 64 heads in all layers (the limit of "
                             "heads), found more than 64 by layer 0");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));

  std::string layers = R"({"step": 1, "attention": [)";
  for (int l = 0; l < 65; ++l) layers += l ? ",[]" : "[]";
  CHECK_THAT(probes_error(layers + R"(], "parameters": {}})"), Contains("at most 64 layers (the limit of layers)"));

  std::string parameters = R"({"step": 1, "attention": [], "parameters": {)";
  for (int p = 0; p < 513; ++p) parameters += (p ? ",\"p" : "\"p") + std::to_string(p) + "\": {}";
  CHECK_THAT(probes_error(parameters + "}}"), Contains("at most 512 entries (the limit of parameters per row)"));

  CHECK(probes_error(std::string(kMaxProbesLineBytes + 1, ' ')) ==
        "p.jsonl:1: the line is " + std::to_string(kMaxProbesLineBytes + 1) + " bytes, over the limit of " +
            std::to_string(kMaxProbesLineBytes) + " (line length)");
}

TEST_CASE("a FIFO or a folder where metrics.jsonl belongs is refused at once", "[run_logs]") {
  const std::string dir = qkv_test::scratch_dir("run_logs_fifo");
  const std::string fifo = dir + "/metrics.jsonl";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened for reading, a FIFO without a writer would block this test forever.
  CHECK_THROWS_WITH(read_metrics_jsonl(fifo),
                    "cannot read '" + fifo + "': it is a FIFO (named pipe), not a regular file");
  CHECK_THROWS_WITH(plot_runs({dir}, dir + "/plots"), Contains("it is a FIFO (named pipe), not a regular file"));
  fs::create_directories(dir + "/folder/probes.jsonl");
  CHECK_THROWS_WITH(read_probes_jsonl(dir + "/folder/probes.jsonl"), Contains("it is a folder, not a regular file"));
  // A checkpoint and a config are read the same way (--eval, init_from, --resume).
  CHECK_THROWS_AS(load_safetensors(fifo), CheckpointError);
  CHECK_THROWS_WITH(load_config(fifo), Contains("FIFO"));
}

TEST_CASE("plot_runs reports a malformed row of a run folder as its own error", "[run_logs]") {
  const std::string dir = qkv_test::scratch_dir("run_logs_plot");
  std::ofstream(dir + "/metrics.jsonl") << kGoodMetrics << "\n" << R"({"step": "two"})" << "\n";
  CHECK_THROWS_WITH(plot_runs({dir}, dir + "/plots"),
                    dir + "/metrics.jsonl:2: field 'step': expected a non-negative integer, found string \"two\"");
  std::ofstream(dir + "/metrics.jsonl") << kGoodMetrics << "\n";
  std::ofstream(dir + "/probes.jsonl") << R"({"step": 1, "parameters": {}})" << "\n";
  CHECK_THROWS_WITH(plot_runs({dir}, dir + "/plots"), StartsWith(dir + "/probes.jsonl:1: field 'attention': "));
}
