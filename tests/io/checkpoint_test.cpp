// Checkpoints: an in-process round trip, and hostile files (truncated, corrupted, lying
// headers, wrong names or shapes) that must each give one CheckpointError naming the file,
// the tensor and the problem, and leave the model, optimiser and generator untouched.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>

#include "../probes/tiny_mlp.h"
#include "test_files.h"

using namespace qkv;
using namespace qkv_test;

namespace {

// A trained model, optimiser and generator, their checkpoint, and a snapshot of them.
struct Fixture {
  std::filesystem::path dir;
  TinyMLP model;
  Data data;
  Generator gen{7};
  std::unique_ptr<Optimizer> opt = make_optimizer("adam", model);
  WarmupSchedule schedule = make_schedule_for_tests();
  int64_t step = 0;
  std::string path, good;  // the valid checkpoint and its bytes

  explicit Fixture(const std::string& name) : dir(scratch_dir(name)) {
    train_steps(model, *opt, schedule, gen, data, step, 3);
    path = (dir / "good.safetensors").string();
    save_checkpoint(path, state());
    good = slurp(path);
    train_steps(model, *opt, schedule, gen, data, step, 2);  // now differs from the file
  }
  TrainingState state() {
    return TrainingState{.model = &model, .optimizer = opt.get(), .generator = &gen, .schedule = &schedule,
                         .step = step, .config = {{"lr", 0.01}}};
  }
  // Everything a load could change, as plain values.
  std::vector<std::vector<Scalar>> snapshot() const {
    std::vector<std::vector<Scalar>> out;
    for (auto& [_, p] : model.named_parameters()) out.push_back(p.to_vector());
    for (auto& [_, t] : opt->state().tensors) out.push_back(t.to_vector());
    for (const auto& group : opt->groups()) out.push_back({static_cast<Scalar>(group.lr)});
    out.push_back({static_cast<Scalar>(opt->step_count("w1"))});
    for (uint64_t w : gen.state()) out.push_back({static_cast<Scalar>(w)});
    return out;
  }
  // Loads `bytes` from a file; must fail with a message holding the file name and `what`.
  void expect_refused(const std::string& bytes, const std::string& what) {
    const std::string bad = (dir / "bad.safetensors").string();
    spit(bad, bytes);
    const auto before = snapshot();
    TrainingState s = state();
    s.step = 12345;
    CHECK_THROWS_AS(load_checkpoint(bad, s), CheckpointError);
    CHECK_THROWS_WITH(load_checkpoint(bad, s), Catch::Contains(bad) && Catch::Contains(what));
    CHECK(s.step == 12345);
    CHECK(snapshot() == before);
  }
};

// The file split into its header JSON and data, to lie about one thing at a time.
struct Parts {
  nlohmann::json header;
  std::string data;
  explicit Parts(const std::string& bytes) {
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    header = nlohmann::json::parse(bytes.substr(8, n));
    data = bytes.substr(8 + n);
  }
  std::string bytes() const { return with_header(header.dump(), data); }
  static std::string with_header(const std::string& text, const std::string& data) {
    std::string out(8, '\0');
    const uint64_t n = text.size();
    std::memcpy(out.data(), &n, 8);
    return out + text + data;
  }
};

std::string with_length(std::string bytes, uint64_t n) {
  std::memcpy(bytes.data(), &n, 8);
  return bytes;
}

}  // namespace

TEST_CASE("a checkpoint restores model, optimiser, generator, step and config", "[checkpoint]") {
  Fixture f("checkpoint-roundtrip");
  // A second, fresh set of objects, loaded from the file, continues like the first would have.
  TinyMLP model2;
  auto opt2 = make_optimizer("adam", model2);
  Generator gen2(999);
  const WarmupSchedule schedule = make_schedule_for_tests();
  TrainingState s{.model = &model2, .optimizer = opt2.get(), .generator = &gen2, .schedule = &schedule};
  load_checkpoint(f.path, s);
  CHECK(s.step == 3);
  CHECK(s.config == nlohmann::json{{"lr", 0.01}});
  CHECK(opt2->step_count("w1") == 3);

  TinyMLP model1;
  auto opt1 = make_optimizer("adam", model1);
  Generator gen1(0);
  TrainingState s1{.model = &model1, .optimizer = opt1.get(), .generator = &gen1, .schedule = &schedule};
  load_checkpoint(f.path, s1);
  int64_t step1 = s1.step, step2 = s.step;
  train_steps(model1, *opt1, schedule, gen1, f.data, step1, 2);
  train_steps(model2, *opt2, schedule, gen2, f.data, step2, 2);
  CHECK(model1.w1.to_vector() == f.model.w1.to_vector());
  CHECK(model2.w2.to_vector() == f.model.w2.to_vector());
  CHECK(gen2.state() == f.gen.state());

  // Model only (evaluation): the optimiser state in the file is ignored.
  TinyMLP model3;
  TrainingState eval{.model = &model3};
  load_checkpoint(f.path, eval);
  CHECK(eval.step == 3);
}

TEST_CASE("truncated and corrupted files are refused cleanly", "[checkpoint]") {
  Fixture f("checkpoint-corrupt");
  const std::string& good = f.good;
  f.expect_refused("", "too short for the 8-byte header length");
  f.expect_refused(good.substr(0, 5), "too short");
  f.expect_refused(good.substr(0, good.size() - 10), "run past the end of the");
  f.expect_refused(good.substr(0, 100), "runs past the end of the 100-byte file");
  f.expect_refused(with_length(good, uint64_t(1) << 62), "exceeds the limit of 100000000 bytes");
  f.expect_refused(with_length(good, ~uint64_t(0)), "exceeds the limit");
  f.expect_refused(with_length(good, good.size() - 8 + 1), "runs past the end");
  f.expect_refused(Parts::with_header("this is not json", Parts(good).data), "header is not valid JSON");
  f.expect_refused(Parts::with_header("[1, 2, 3]", ""), "header must be a JSON object");
  f.expect_refused(Parts::with_header(std::string(40, '[') + std::string(40, ']'), ""), "nests deeper than");
  f.expect_refused(Parts::with_header(R"({"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},)"
                                      R"( "a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}})", ""),
                   "header names 'a' twice");
  f.expect_refused(Parts::with_header(std::string("{}\0 garbage", 11), ""), "header holds a NUL byte at offset 10");
  std::string flipped = good;
  flipped[9] = '#';  // inside the JSON
  f.expect_refused(flipped, "header is not valid JSON");
}

TEST_CASE("headers that lie about offsets, shapes or dtypes are refused cleanly", "[checkpoint]") {
  Fixture f("checkpoint-lies");
  auto lie = [&](const std::function<void(nlohmann::json&)>& edit, const std::string& what) {
    Parts parts(f.good);
    edit(parts.header);
    f.expect_refused(parts.bytes(), what);
  };
  lie([](nlohmann::json& h) { h["model.w1"]["data_offsets"] = {0, 1000000000}; }, "run past the end of the");
  lie([](nlohmann::json& h) { h["model.w1"]["data_offsets"][1] = h["model.w1"]["data_offsets"][1].get<uint64_t>() - 4; },
      "tensor 'model.w1': data_offsets");
  lie([](nlohmann::json& h) { h["model.w1"]["data_offsets"] = {8, 4}; }, "end before they begin");
  lie([](nlohmann::json& h) { h["model.w1"]["data_offsets"] = {-4, 12}; }, "tensor 'model.w1': data_offsets[0] must be a non-negative integer");
  lie([](nlohmann::json& h) { h["optim.b1.exp_avg"]["data_offsets"] = h["model.b1"]["data_offsets"]; }, "overlap");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = {-4, 8}; }, "tensor 'model.w1': shape dimension must be a non-negative integer");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = {1.5, 8}; }, "shape dimension must be a non-negative integer");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = {uint64_t(1) << 40, uint64_t(1) << 40, uint64_t(1) << 40}; },
      "holds more elements than the");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = {uint64_t(1) << 63, 0}; }, "is too large");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = nlohmann::json(std::vector<int>(65, 1)); }, "rank 65 exceeds 64");
  lie([](nlohmann::json& h) { h["model.w1"]["dtype"] = "I32"; }, "tensor 'model.w1': dtype 'I32' is not supported");
  lie([](nlohmann::json& h) { h["model.w1"]["dtype"] = 4; }, "field 'dtype' must be a string, found number");
  lie([](nlohmann::json& h) { h["model.w1"].erase("shape"); }, "tensor 'model.w1': missing field 'shape'");
  lie([](nlohmann::json& h) { h["model.w1"]["shape"] = "4, 8"; },
      "tensor 'model.w1': field 'shape' must be an array of integers, found string");
  lie([](nlohmann::json& h) { h["model.w1"]["data_offsets"] = {0}; },
      "field 'data_offsets' must be an array of two integers, found array of 1");
  lie([](nlohmann::json& h) { h["model.w1"]["extra"] = 1; }, "unknown field 'extra'");
  lie([](nlohmann::json& h) { h["model.w1"] = "F32"; }, "tensor 'model.w1': entry must be an object");
  lie([](nlohmann::json& h) { h["__metadata__"]["step"] = 5; }, "__metadata__ entry 'step' is not a string");
  lie([](nlohmann::json& h) { h["__metadata__"] = "x"; }, "__metadata__ must be an object");
  // A tensor left out of the header leaves a hole in the data section.
  lie([](nlohmann::json& h) { h.erase("model.b1"); }, "gap");
}

TEST_CASE("well-formed files that do not fit the model are refused cleanly", "[checkpoint]") {
  Fixture f("checkpoint-mismatch");
  SafetensorsContents c = decode_safetensors(f.good, "good");
  auto rewrite = [&](const std::function<void(NamedTensors&, StringMap&)>& edit, const std::string& what) {
    NamedTensors tensors = c.tensors;
    StringMap meta = c.metadata;
    edit(tensors, meta);
    f.expect_refused(encode_safetensors(tensors, meta), what);
  };
  auto drop = [](NamedTensors& t, const std::string& name) {
    std::erase_if(t, [&](const auto& e) { return e.first == name; });
  };
  auto replace = [](NamedTensors& t, const std::string& name, Tensor v) {
    for (auto& e : t)
      if (e.first == name) e.second = v;
  };
  rewrite([&](auto& t, auto&) { drop(t, "model.b1"); }, "tensor 'model.b1' is missing");
  rewrite([&](auto& t, auto&) { t.emplace_back("model.extra", Tensor::zeros({2})); },
          "unexpected tensor 'model.extra': the model has no such parameter");
  rewrite([&](auto& t, auto&) { t.emplace_back("stray", Tensor::zeros({2})); }, "unexpected tensor 'stray'");
  rewrite([&](auto& t, auto&) { replace(t, "model.w1", Tensor::zeros({8, 4})); },
          "tensor 'model.w1' has shape [8, 4], the model's parameter has [4, 8]");
  rewrite([&](auto& t, auto&) { drop(t, "optim.w2.exp_avg_sq"); }, "tensor 'w2.exp_avg_sq' is missing");
  rewrite([&](auto& t, auto&) { t.emplace_back("optim.w2.momentum", Tensor::zeros({8, 2})); },
          "unexpected tensor 'w2.momentum'");
  rewrite([&](auto& t, auto&) { replace(t, "optim.b1.exp_avg", Tensor::zeros({9})); },
          "tensor 'b1.exp_avg' has shape [9]");
  rewrite([&](auto&, auto& m) { m.erase("format"); }, "not a qkv checkpoint");
  rewrite([&](auto&, auto& m) { m["step"] = "-3"; }, "'step' must be a non-negative decimal integer");
  rewrite([&](auto&, auto& m) { m["config"] = "{oops"; }, "'config' is not valid JSON");
  rewrite([&](auto&, auto& m) { m.erase("optimizer"); }, "__metadata__ has no 'optimizer'");
  rewrite([&](auto&, auto& m) { m["optimizer"] = R"({"kind": "sgd"})"; }, "was saved by optimiser \"sgd\"");
  rewrite([&](auto&, auto& m) { m["generator"] = R"(["0", "0", "0", "0"])"; }, "all-zero state");
  rewrite([&](auto&, auto& m) { m["generator"] = R"(["1", "2", "3"])"; }, "array of 4 decimal strings");
  rewrite([&](auto&, auto& m) { m["generator"] = R"(["1", "2", "3", "99999999999999999999"])"; }, "exceeds 64 bits");
  rewrite([&](auto&, auto& m) { m["schedule"] = R"({"kind": "constant"})"; }, "was saved with schedule");
  rewrite([&](auto&, auto& m) { m.erase("schedule"); }, "was saved without a schedule");
  rewrite([&](auto&, auto& m) { m["schedule"] = "null"; }, "__metadata__ 'schedule' must be a JSON object, found null");
  // Metadata values are JSON inside JSON strings: the header's depth limit does not reach them.
  rewrite([&](auto&, auto& m) { m["config"] = std::string(100000, '[') + std::string(100000, ']'); },
          "__metadata__ 'config' is not valid JSON: nests deeper than 64 levels");
  rewrite([&](auto&, auto& m) { m["optimizer"] = std::string("{}\0{}", 5); },
          "__metadata__ 'optimizer' is not valid JSON: a NUL byte, which JSON text cannot hold (at byte 3 of its text)");
}

TEST_CASE("randomly mutated checkpoints give a clean error or a successful load", "[checkpoint]") {
  Fixture f("checkpoint-fuzz");
  uint64_t header;
  std::memcpy(&header, f.good.data(), 8);
  Generator rng(20240601);
  const std::string bad = (f.dir / "fuzz.safetensors").string();
  int refused = 0, loaded = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string bytes = f.good;
    const int mutations = static_cast<int>(rng.integer(1, 5));
    for (int m = 0; m < mutations && !bytes.empty(); ++m) {
      // Mostly in the length and header, where the parser's decisions are.
      const int64_t span = rng.uniform() < 0.8 ? std::min<int64_t>(8 + header, bytes.size()) : bytes.size();
      const int64_t at = rng.integer(0, span);
      switch (rng.integer(0, 5)) {
        case 0: bytes[at] = static_cast<char>(rng.integer(0, 256)); break;
        case 1: bytes[at] = "{}[]\",:0123456789-e."[rng.integer(0, 20)]; break;
        case 2: bytes.erase(at, rng.integer(1, 16)); break;
        case 3: bytes.insert(at, std::string(rng.integer(1, 16), static_cast<char>(rng.integer(0, 256)))); break;
        default: bytes.resize(at); break;
      }
    }
    spit(bad, bytes);
    const auto before = f.snapshot();
    TrainingState s = f.state();
    try {
      load_checkpoint(bad, s);
      ++loaded;
      // A mutation that kept the file valid (data bytes only) loads; start again from
      // a known state.
      load_checkpoint(f.path, s);
    } catch (const CheckpointError& e) {
      ++refused;
      if (f.snapshot() != before) FAIL("a refused file changed the state: " << e.what());
    } catch (const std::exception& e) {
      FAIL("mutation " << i << " threw something other than CheckpointError: " << e.what());
    }
  }
  INFO("refused " << refused << ", loaded " << loaded);
  CHECK(refused + loaded == 3000);
  CHECK(refused > 2000);
}

TEST_CASE("CRC-32C matches the specification's check values", "[checkpoint][checksum]") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
  CHECK(crc32c("a") == 0xC1D04330u);
  CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);  // RFC 3720 B.4, 32 bytes of zeros
}

TEST_CASE("a checkpoint carries a CRC-32C per tensor as string metadata, kept out of the caller's metadata",
          "[checkpoint][checksum]") {
  Fixture f("checkpoint-checksums");
  const Parts parts(f.good);
  const nlohmann::json& meta = parts.header.at("__metadata__");
  size_t tensors = 0;
  for (const auto& [name, entry] : parts.header.items()) {
    if (name == "__metadata__") continue;
    ++tensors;
    const auto [begin, end] = std::pair(entry["data_offsets"][0].get<size_t>(), entry["data_offsets"][1].get<size_t>());
    char expected[9];
    std::snprintf(expected, sizeof expected, "%08x", crc32c(std::string_view(parts.data).substr(begin, end - begin)));
    CHECK(meta.at("crc32c:" + name) == expected);
  }
  CHECK(tensors > 3);
  const SafetensorsContents c = decode_safetensors(f.good, "good");
  CHECK(c.checksummed);
  for (const auto& [key, _] : c.metadata) CHECK(key.rfind("crc32c:", 0) == std::string::npos);
  CHECK_THROWS_AS(encode_safetensors({}, {{"crc32c:x", "00000000"}}), std::invalid_argument);
}

TEST_CASE("one flipped bit in any tensor's data is refused naming that tensor", "[checkpoint][checksum]") {
  Fixture f("checkpoint-bitflip");
  const Parts parts(f.good);
  uint64_t header;
  std::memcpy(&header, f.good.data(), 8);
  int flipped = 0;
  for (const auto& [name, entry] : parts.header.items()) {
    if (name == "__metadata__") continue;
    const auto begin = entry["data_offsets"][0].get<uint64_t>(), end = entry["data_offsets"][1].get<uint64_t>();
    if (begin == end) continue;
    // A different byte and bit of each tensor: the first, the last, one in between.
    const uint64_t at = begin + (static_cast<uint64_t>(flipped) * 7919) % (end - begin);
    std::string bytes = f.good;
    bytes[8 + header + at] ^= static_cast<char>(1 << (flipped % 8));
    INFO("tensor " << name << ", byte " << at << " of the data");
    f.expect_refused(bytes, "tensor '" + name + "': its data does not match its CRC-32C checksum");
    ++flipped;
  }
  CHECK(flipped > 3);
}

TEST_CASE("a checkpoint without checksums loads with a one-line notice, partial checksums are refused",
          "[checkpoint][checksum]") {
  Fixture f("checkpoint-no-checksums");
  Parts parts(f.good);
  nlohmann::json& meta = parts.header["__metadata__"];
  std::vector<std::string> checksum_keys;
  for (const auto& [key, _] : meta.items())
    if (key.rfind("crc32c:", 0) == 0) checksum_keys.push_back(key);
  REQUIRE(!checksum_keys.empty());

  // One checksum missing, or one naming no tensor: tampered, not old.
  Parts one_missing = parts;
  one_missing.header["__metadata__"].erase(checksum_keys.front());
  f.expect_refused(one_missing.bytes(), "tensor '" + checksum_keys.front().substr(7) + "' has no checksum");
  Parts stray = parts;
  stray.header["__metadata__"]["crc32c:model.nothing"] = "00000000";
  f.expect_refused(stray.bytes(), "__metadata__ 'crc32c:model.nothing' is the checksum of no tensor in the file");

  // All of them gone, as in a checkpoint of an earlier qkv.
  for (const std::string& key : checksum_keys) meta.erase(key);
  const std::string old = (f.dir / "old.safetensors").string();
  spit(old, parts.bytes());
  CHECK_FALSE(decode_safetensors(parts.bytes(), old).checksummed);
  std::ostringstream captured;
  std::streambuf* const saved = std::cerr.rdbuf(captured.rdbuf());
  TrainingState s = f.state();
  try {
    load_checkpoint(old, s);
  } catch (...) {
    std::cerr.rdbuf(saved);
    throw;
  }
  std::cerr.rdbuf(saved);
  CHECK(captured.str() == "notice: checkpoint '" + old +
                              "' carries no checksums (written before qkv added them); its tensors were loaded "
                              "unverified\n");
  CHECK(s.step == 3);
  // The same values as the checksummed file gives.
  const auto from_old = f.snapshot();
  load_checkpoint(f.path, s);
  CHECK(f.snapshot() == from_old);
}
