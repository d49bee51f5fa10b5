// Names from outside in plots (issue 22): run folders, --out folders, overlay labels and
// parameter names holding quotes, $(), backticks, ;, newlines and spaces are drawn as
// text and never run. Before, `cd '<dir>' && gnuplot` went to a shell and names were
// spliced into gnuplot commands (gnuplot has `system`), so each of these ran `touch`.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
// Every payload would create a file named PWNED in the folder the shell or gnuplot runs in.
const std::vector<std::string> kHostileNames = {
    "it's a run",
    "say \"hi\"",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a; touch PWNED",
    "x'$(touch PWNED)'",
    "two\nlines",
    "q'\nsystem 'touch PWNED'\nprint '",
    "' . system('touch PWNED') . '",
    "\" . system(\"touch PWNED\") . \"",
    "@PWNED `touch PWNED` \\",
};

void write_run(const fs::path& dir, const std::string& parameter_name) {
  fs::create_directories(dir);
  std::ofstream metrics(dir / "metrics.jsonl");
  for (int step = 1; step <= 3; ++step)
    metrics << R"({"step": )" << step << R"(, "loss": )" << 2.0 / step
            << R"(, "accuracy": 0.5, "lr": 0.01, "grad_norm": 1.5, "eval_loss": 1.0, "eval_accuracy": 0.6})" << "\n";
  std::ofstream probes(dir / "probes.jsonl");
  const nlohmann::json head = {{"entropy", 1.0}, {"jacobian_norm", 0.5}, {"dead_fraction", 0.0}, {"max_weight", 0.7}};
  for (int step = 1; step <= 3; ++step) {
    nlohmann::json row = {{"step", step}, {"attention", {{head, head}}}};
    row["parameters"][parameter_name] = {{"grad_norm", 0.1 * step}, {"update_ratio", 0.01}};
    row["parameters"]["plain.weight"] = {{"grad_norm", 0.2}, {"update_ratio", 0.02}};
    probes << row.dump() << "\n";
  }
}

// Whether a file named PWNED exists under `root` or in the working folder.
bool pwned(const fs::path& root) {
  if (fs::exists("PWNED")) return true;
  for (const auto& entry : fs::recursive_directory_iterator(root))
    if (entry.path().filename() == "PWNED") return true;
  return false;
}
}  // namespace

TEST_CASE("gnuplot_string leaves no quote, newline, backquote, $ or @ in the script text", "[plots][hardening]") {
  for (const std::string& name : kHostileNames) {
    const std::string quoted = gnuplot_string(name);
    REQUIRE(quoted.size() >= 2);
    CHECK(quoted.front() == '"');
    CHECK(quoted.back() == '"');
    CHECK(quoted.substr(1, quoted.size() - 2).find_first_of("'\"`$@\n;") == std::string::npos);
  }
  CHECK(gnuplot_string("it's\n") == "\"it\\047s\\012\"");
  CHECK(gnuplot_string(std::string("a\0b", 3)) == "\"a?b\"");
}

TEST_CASE("run folders, --out folders, labels and parameter names with shell and gnuplot syntax plot and run nothing",
          "[plots][hardening]") {
  const fs::path root = qkv_test::scratch_dir("plot_names");
  REQUIRE_FALSE(pwned(root));
  for (size_t i = 0; i < kHostileNames.size(); ++i) {
    const std::string& name = kHostileNames[i];
    INFO("name: " << name);
    const fs::path case_dir = root / std::to_string(i);
    // One run folder named `name`, plotted into its own plots folder: probes too, with a
    // parameter of that name.
    const fs::path run = case_dir / name;
    write_run(run, name);
    const std::vector<std::string> images = plot_runs({run.string()}, (run / "plots").string());
    // Two runs overlaid (labels `name` and `name` + "2") into an --out folder named `name`.
    const fs::path other = case_dir / (name + "2");
    write_run(other, "w");
    const fs::path out = case_dir / "out" / name;
    const std::vector<std::string> overlaid = plot_runs({run.string(), other.string()}, out.string());
    if (gnuplot_available()) {
      REQUIRE(images.size() == 2);
      CHECK(fs::file_size(run / "plots" / "metrics.png") > 0);
      CHECK(fs::file_size(run / "plots" / "probes.png") > 0);
      REQUIRE(overlaid.size() == 2);
      CHECK(fs::file_size(out / "metrics.png") > 0);
      CHECK(fs::file_size(out / "probes.png") > 0);
    }
    CHECK_FALSE(pwned(root));
  }
}
