// Scratch files for the io tests: one fresh directory per test case under the build tree.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace qkv_test {

inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::path(QKV_BINARY_DIR) / "test-tmp" / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void spit(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace qkv_test
