// libFuzzer target: the config reader with --set overrides on arbitrary text. The input
// is a config file's text, then any number of "\n--set " each followed by one override
// argument. Every input must end in a RunConfig or a ConfigError; a valid config must
// also read back the same from its own resolved JSON (docs/train.md promises that).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "train/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string separator = "\n--set ";
  size_t end = input.find(separator);
  const std::string text = input.substr(0, end);
  std::vector<std::string> sets;
  while (end != std::string::npos) {
    const size_t begin = end + separator.size();
    end = input.find(separator, begin);
    sets.push_back(input.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
  }
  qkv::RunConfig config;
  try {
    config = qkv::parse_config(text, "fuzz input", sets);
  } catch (const qkv::ConfigError&) {
    return 0;
  }
  if (qkv::resolve_config(config.resolved, "resolved").resolved != config.resolved) __builtin_trap();
  return 0;
}
