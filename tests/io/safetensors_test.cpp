// The safetensors writer and reader: the bytes on disk, round trips, conversion, and
// atomic writes that name the path when they fail.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>

#include <csignal>
#include <cstring>

#include "qkv.h"
#include "test_files.h"

using namespace qkv;
using namespace qkv_test;

namespace {
uint64_t header_length(const std::string& bytes) {
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  return n;
}
}  // namespace

TEST_CASE("safetensors bytes follow the format", "[safetensors]") {
  const std::string bytes = encode_safetensors({{"a", Tensor::from({1, 2, 3, 4, 5, 6}, {2, 3})}, {"s", Tensor::scalar(7)}},
                                               {{"note", "hi"}});
  const uint64_t n = header_length(bytes);
  CHECK((8 + n) % 8 == 0);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  const std::string dtype = sizeof(Scalar) == 4 ? "F32" : "F64";
  CHECK(header["a"]["dtype"] == dtype);
  CHECK(header["a"]["shape"] == nlohmann::json({2, 3}));
  CHECK(header["a"]["data_offsets"] == nlohmann::json({0, 6 * sizeof(Scalar)}));
  CHECK(header["s"]["shape"] == nlohmann::json::array());
  CHECK(header["s"]["data_offsets"] == nlohmann::json({6 * sizeof(Scalar), 7 * sizeof(Scalar)}));
  CHECK(header["__metadata__"]["note"] == "hi");
  REQUIRE(bytes.size() == 8 + n + 7 * sizeof(Scalar));
  Scalar third;
  std::memcpy(&third, bytes.data() + 8 + n + 2 * sizeof(Scalar), sizeof(Scalar));
  CHECK(third == 3);
}

TEST_CASE("safetensors round-trips tensors and metadata", "[safetensors]") {
  const auto dir = scratch_dir("safetensors-roundtrip");
  Generator gen(1);
  NamedTensors tensors{{"w", Tensor::randn({3, 5}, gen)}, {"empty", Tensor::zeros({0, 4})}, {"b", Tensor::randn({5}, gen)}};
  save_safetensors((dir / "t.safetensors").string(), tensors, {{"k", "v"}});
  const SafetensorsContents back = load_safetensors((dir / "t.safetensors").string());
  REQUIRE(back.tensors.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(back.tensors[i].first == tensors[i].first);
    CHECK(back.tensors[i].second.shape() == tensors[i].second.shape());
    CHECK(back.tensors[i].second.to_vector() == tensors[i].second.to_vector());
  }
  CHECK(back.metadata == StringMap{{"k", "v"}});
  // Only the target remains: the temporary file was renamed over it.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
}

TEST_CASE("safetensors reads the other float width, converting", "[safetensors]") {
  // A hand-built F64 file (or F32 in the double build) with values exact in both widths.
  const bool own_f32 = sizeof(Scalar) == 4;
  const std::string header = std::string(R"({"x":{"dtype":")") + (own_f32 ? "F64" : "F32") +
                             R"(","shape":[2],"data_offsets":[0,)" + (own_f32 ? "16" : "8") + "]}}";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  if (own_f32) {
    const double v[2] = {1.5, -0.25};
    bytes.append(reinterpret_cast<const char*>(v), sizeof v);
  } else {
    const float v[2] = {1.5f, -0.25f};
    bytes.append(reinterpret_cast<const char*>(v), sizeof v);
  }
  const auto back = decode_safetensors(bytes, "mem");
  CHECK(back.tensors.at(0).second.to_vector() == std::vector<Scalar>{1.5, -0.25});
}

TEST_CASE("safetensors write errors name the path", "[safetensors]") {
  const auto dir = scratch_dir("safetensors-errors");
  const std::string missing = (dir / "no-such-dir" / "x.safetensors").string();
  CHECK_THROWS_AS(save_safetensors(missing, {{"a", Tensor::zeros({1})}}), CheckpointError);
  CHECK_THROWS_WITH(save_safetensors(missing, {{"a", Tensor::zeros({1})}}), Catch::Contains(missing));
  CHECK_THROWS_WITH(load_safetensors(missing), Catch::Contains(missing));
  CHECK_THROWS_WITH(load_safetensors(dir.string()), Catch::Contains("not a regular file"));
  CHECK_THROWS_WITH(encode_safetensors({{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}),
                    Catch::Contains("'a' appears twice"));
}

TEST_CASE("a failed save (disk full) keeps the previous file and leaves no temporary", "[safetensors]") {
  const auto dir = scratch_dir("safetensors-full");
  const std::string path = (dir / "ckpt.safetensors").string();
  Generator gen(2);
  save_safetensors(path, {{"old", Tensor::randn({4}, gen)}});
  const std::string before = slurp(path);

  // In a child process, a file-size limit makes the write fail part-way (EFBIG), as a full
  // disk would (ENOSPC); the child reports whether it got a CheckpointError naming the path.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{4096, 4096};
    setrlimit(RLIMIT_FSIZE, &limit);
    try {
      save_safetensors(path, {{"new", Tensor::randn({100000}, gen)}});
      _exit(1);
    } catch (const CheckpointError& e) {
      _exit(std::string(e.what()).find(path) != std::string::npos ? 0 : 2);
    } catch (...) {
      _exit(3);
    }
  }
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(slurp(path) == before);
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator()) == 1);
}
