// The library's layers depend downwards only: dist/ (MPI, data-parallel pieces) is used by
// train/, so it may include only core/, tasks/ and its own headers. A file that includes
// train/ (or anything above) would tie the communication layer to one training loop.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

TEST_CASE("layering: dist/ includes only core/, tasks/ and dist/ headers", "[layering]") {
  namespace fs = std::filesystem;
  const std::regex project_include(R"re(^\s*#\s*include\s*"([^"]+)")re");
  const std::regex allowed(R"(^(core|tasks|dist)/.*)");
  int files = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(QKV_SOURCE_DIR) / "dist")) {
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
      std::smatch m;
      if (!std::regex_search(line, m, project_include)) continue;
      INFO(entry.path().filename().string() << ":" << number << " includes \"" << m[1] << "\"");
      CHECK(std::regex_match(m[1].str(), allowed));
    }
  }
  CHECK(files > 0);
}
