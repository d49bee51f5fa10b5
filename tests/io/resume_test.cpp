// Training 2N steps in one process gives the same bytes as training N, saving, and
// training N more in a new process after loading: parameters, optimiser state, generator
// state and step, for every optimiser, with a warm-up/cosine schedule and clipping.
#include <catch2/catch.hpp>

#include "../child_process.h"
#include "test_files.h"

using namespace qkv_test;

namespace {
void probe(std::vector<std::string> args) {
  args.insert(args.begin(), QKV_RESUME_PROBE);
  INFO(args[2]);
  REQUIRE(Child(args, {}).wait() == 0);
}
}  // namespace

TEST_CASE("a resumed run is bit-identical to an uninterrupted one, for every optimiser", "[resume]") {
  const auto dir = scratch_dir("resume");
  for (const std::string kind : {"sgd", "adam", "adamw", "rmsprop", "adagrad"}) {
    SECTION(kind) {
      auto file = [&](const std::string& name) { return (dir / (kind + "-" + name)).string(); };
      probe({kind, "8", file("straight")});
      probe({kind, "4", file("half")});
      probe({kind, "4", file("resumed"), "--resume", file("half")});
      const std::string straight = slurp(dir / (kind + "-straight")), resumed = slurp(dir / (kind + "-resumed"));
      REQUIRE(!straight.empty());
      CHECK(straight == resumed);

      // Negative controls: leaving the generator or the optimiser fresh changes the result,
      // so the comparison above can fail.
      probe({kind, "4", file("no-generator"), "--resume", file("half"), "--skip-generator"});
      CHECK(slurp(dir / (kind + "-no-generator")) != straight);
      probe({kind, "4", file("no-optimizer"), "--resume", file("half"), "--skip-optimizer"});
      CHECK(slurp(dir / (kind + "-no-optimizer")) != straight);
    }
  }
}
