// The bad-input corpus (tests/bad_inputs/, made by its make_corpus.py): every input must
// be refused with qkv's own error type for its kind and exactly the message in its
// .message file, where {file} stands for the input's path. Update the messages with
//   QKV_UPDATE_BAD_INPUTS=1 build/tests/train_tests "[bad_inputs]"
// and read each changed one before committing it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
namespace fs = std::filesystem;

namespace {
const fs::path kCorpus = fs::path(QKV_SOURCE_DIR) / "tests" / "bad_inputs";

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// What loading `load` gives: the message of an Error (with `path` written {file}), or a
// description of anything else, which no .message file holds.
template <class Error>
std::string refusal(const std::function<void()>& load, const std::string& path) {
  try {
    load();
  } catch (const Error& e) {
    // The memory check quotes this machine's memory; the corpus holds it as {memory}.
    const std::regex memory("machine's [0-9.]+ GiB");
    return std::regex_replace(replace_all(e.what(), path, "{file}"), memory, "machine's {memory}");
  } catch (const std::exception& e) {
    return std::string("a different exception: ") + e.what();
  }
  return "accepted";
}

// A run folder holding run.json's resolved config and `checkpoint`, resumed.
std::string checkpoint_refusal(const fs::path& checkpoint) {
  const std::string dir = qkv_test::scratch_dir("bad_checkpoint");
  RunConfig config = load_config((kCorpus / "checkpoint" / "run.json").string());
  set_out_dir(config, dir, "--out");
  std::ofstream(run_config_path(dir)) << config.resolved.dump(2);
  fs::copy_file(checkpoint, run_checkpoint_path(dir));
  std::ostringstream log;
  return refusal<CheckpointError>(
      [&] { Trainer(load_run_config(dir), {.resume = true, .log = &log, .progress_bar = false}); },
      run_checkpoint_path(dir));
}

std::string refusal_of(const std::string& kind, const fs::path& input) {
  const std::string path = input.string();
  if (kind == "config") return refusal<ConfigError>([&] { load_config(path); }, path);
  if (kind == "set")
    return refusal<ConfigError>([&] { parse_config(R"({"task": {"name": "copy"}})", "run.json", {qkv_test::slurp(path)}); },
                                path);
  if (kind == "safetensors") return refusal<CheckpointError>([&] { load_safetensors(path); }, path);
  return checkpoint_refusal(input);
}
}  // namespace

TEST_CASE("every input of the bad-input corpus is refused with its message", "[bad_inputs]") {
  const bool update = std::getenv("QKV_UPDATE_BAD_INPUTS") != nullptr;
  int inputs = 0;
  for (const std::string kind : {"config", "set", "safetensors", "checkpoint"}) {
    std::vector<fs::path> paths;
    for (const auto& entry : fs::directory_iterator(kCorpus / kind))
      if (entry.path().extension() != ".message" && entry.path().filename() != "run.json") paths.push_back(entry.path());
    std::sort(paths.begin(), paths.end());
    for (const fs::path& input : paths) {
      INFO(input.string());
      const std::string message = refusal_of(kind, input);
      const fs::path expected = input.string() + ".message";
      if (update) std::ofstream(expected) << message << "\n";
      REQUIRE(fs::exists(expected));
      CHECK(message + "\n" == qkv_test::slurp(expected.string()));
      ++inputs;
    }
  }
  CHECK(inputs >= 40);
}
