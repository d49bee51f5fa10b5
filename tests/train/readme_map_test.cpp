// README is a map: short, and every link in it leads somewhere in the clone.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <string>

#include "train_test_util.h"

namespace fs = std::filesystem;

TEST_CASE("README stays a map of at most 300 lines whose links all exist", "[docs]") {
  const fs::path source(QKV_SOURCE_DIR);
  const std::string readme = qkv_test::slurp((source / "README.md").string());
  CHECK(std::count(readme.begin(), readme.end(), '\n') <= 300);

  // Markdown links and images: ](target) with a relative target, an optional #anchor dropped.
  const std::regex link(R"(\]\(([^)#\s]+)(#[^)]*)?\))");
  int relative = 0;
  for (auto it = std::sregex_iterator(readme.begin(), readme.end(), link); it != std::sregex_iterator(); ++it) {
    const std::string target = (*it)[1];
    if (target.find("://") != std::string::npos) continue;
    ++relative;
    INFO(target);
    CHECK(target.rfind("../", 0) != 0);  // nothing outside the clone
    CHECK(fs::exists(source / target));
  }
  CHECK(relative >= 10);  // the docs table alone links a dozen pages
}
