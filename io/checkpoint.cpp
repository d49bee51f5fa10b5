#include "io/checkpoint.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <set>

#include "core/generator.h"
#include "io/json_text.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

namespace qkv {

namespace {

constexpr const char* kFormat = "qkv.checkpoint.v1";
const std::string kModelPrefix = "model.";
const std::string kOptimPrefix = "optim.";

bool starts_with(const std::string& s, const std::string& prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// Every check of one file, with its name in every message.
struct Reader {
  std::string path;

  [[noreturn]] void fail(const std::string& what) const {
    throw CheckpointError("checkpoint '" + path + "': " + what);
  }

  const std::string& meta(const StringMap& m, const std::string& key) const {
    auto it = m.find(key);
    if (it == m.end()) fail("__metadata__ has no '" + key + "'");
    return it->second;
  }

  nlohmann::json json(const StringMap& m, const std::string& key) const {
    try {
      return parse_json_text(meta(m, key));
    } catch (const JsonTextError& e) {
      fail("__metadata__ '" + key + "' is not valid JSON: " + e.what() +
           (e.byte() ? " (at byte " + std::to_string(e.byte()) + " of its text)" : ""));
    }
  }

  // The checks every caller needs first: a safetensors file of some other program has
  // none of qkv's metadata, and saying so beats naming the first missing key.
  void check_format(const StringMap& m) const {
    auto it = m.find("format");
    if (it == m.end() || it->second != kFormat)
      fail("not a qkv checkpoint (__metadata__ 'format' is " +
           (it == m.end() ? std::string("missing") : "'" + it->second + "'") + ", not '" + kFormat + "')");
  }

  std::optional<nlohmann::json> schedule(const StringMap& m) const {
    if (!m.count("schedule")) return std::nullopt;
    nlohmann::json saved = json(m, "schedule");
    if (!saved.is_object()) fail("__metadata__ 'schedule' must be a JSON object, found " + std::string(saved.type_name()));
    return saved;
  }

  int64_t step(const StringMap& m) const {
    const std::string& text = meta(m, "step");
    if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
      fail("__metadata__ 'step' must be a non-negative decimal integer, got '" + text + "'");
    return std::stoll(text);
  }

  Generator::State generator(const StringMap& m) const {
    const nlohmann::json words = json(m, "generator");
    Generator::State state{};
    if (!words.is_array() || words.size() != state.size())
      fail("__metadata__ 'generator' must be an array of 4 decimal strings");
    for (size_t i = 0; i < state.size(); ++i) {
      const std::string text = words[i].is_string() ? words[i].get<std::string>() : "";
      if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos)
        fail("__metadata__ 'generator' word " + std::to_string(i) + " is not a decimal string");
      errno = 0;
      state[i] = std::strtoull(text.c_str(), nullptr, 10);
      if (errno == ERANGE) fail("__metadata__ 'generator' word " + std::to_string(i) + " exceeds 64 bits");
    }
    if (state == Generator::State{}) fail("__metadata__ 'generator' is the invalid all-zero state");
    return state;
  }
};

}  // namespace

namespace {
// The model's parameters, then its buffers (state such as σReparam's power-iteration
// vectors, which resuming exactly needs too).
std::vector<std::pair<std::string, Tensor>> model_tensors_of(const Module& model) {
  auto tensors = model.named_parameters();
  for (auto& buffer : model.named_buffers()) tensors.push_back(buffer);
  return tensors;
}
}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state) {
  if (!state.model) throw std::invalid_argument("save_checkpoint('" + path + "'): TrainingState::model is null");
  if (state.step < 0) throw std::invalid_argument("save_checkpoint('" + path + "'): step is negative");
  NamedTensors tensors;
  for (auto& [name, p] : model_tensors_of(*state.model)) tensors.emplace_back(kModelPrefix + name, p);
  StringMap meta{{"format", kFormat}, {"step", std::to_string(state.step)}, {"config", state.config.dump()}};
  if (state.optimizer) {
    OptimizerState optim = state.optimizer->state();
    for (auto& [name, t] : optim.tensors) tensors.emplace_back(kOptimPrefix + name, t);
    meta["optimizer"] = optim.meta.dump();
  }
  if (state.generator) {
    nlohmann::json words = nlohmann::json::array();
    for (uint64_t w : state.generator->state()) words.push_back(std::to_string(w));
    meta["generator"] = words.dump();
  }
  if (state.schedule) meta["schedule"] = state.schedule->to_json().dump();
  save_safetensors(path, tensors, meta);
}

CheckpointInfo decode_checkpoint_info(std::string_view bytes, const std::string& source) {
  const Reader r{source};
  const StringMap meta = decode_safetensors(bytes, source).metadata;
  r.check_format(meta);
  return {.step = r.step(meta), .config = r.json(meta, "config"), .schedule = r.schedule(meta)};
}

CheckpointInfo read_checkpoint_info(const std::string& path) { return decode_checkpoint_info(read_file(path), path); }

void load_checkpoint(const std::string& path, TrainingState& state) {
  if (!state.model) throw std::invalid_argument("load_checkpoint('" + path + "'): TrainingState::model is null");
  if (!decode_checkpoint(read_file(path), path, state))
    std::cerr << "notice: checkpoint '" << path << "' carries no checksums (written before qkv added them); "
              << "its tensors were loaded unverified\n";
}

bool decode_checkpoint(std::string_view bytes, const std::string& source, TrainingState& state) {
  if (!state.model) throw std::invalid_argument("decode_checkpoint('" + source + "'): TrainingState::model is null");
  const Reader r{source};
  SafetensorsContents file = decode_safetensors(bytes, source);
  const StringMap& meta = file.metadata;
  r.check_format(meta);

  // Sort the tensors by owner.
  std::map<std::string, const Tensor*> model_tensors;
  OptimizerState optim;
  for (auto& [name, t] : file.tensors) {
    if (starts_with(name, kModelPrefix)) model_tensors.emplace(name.substr(kModelPrefix.size()), &t);
    else if (starts_with(name, kOptimPrefix)) optim.tensors.emplace_back(name.substr(kOptimPrefix.size()), t);
    else r.fail("unexpected tensor '" + name + "' (names start with 'model.' or 'optim.')");
  }

  // Check everything before changing anything.
  const auto params = model_tensors_of(*state.model);
  std::set<std::string> param_names;
  for (auto& [name, p] : params) {
    param_names.insert(name);
    auto it = model_tensors.find(name);
    if (it == model_tensors.end()) r.fail("tensor 'model." + name + "' is missing");
    if (it->second->shape() != p.shape())
      r.fail("tensor 'model." + name + "' has shape " + shape_str(it->second->shape()) +
             ", the model's parameter has " + shape_str(p.shape()));
  }
  for (auto& [name, _] : model_tensors)
    if (!param_names.count(name)) r.fail("unexpected tensor 'model." + name + "': the model has no such parameter or buffer");
  const int64_t step = r.step(meta);
  nlohmann::json config = r.json(meta, "config");
  if (state.optimizer) {
    optim.meta = r.json(meta, "optimizer");
    try {
      state.optimizer->check_state(optim);
    } catch (const std::invalid_argument& e) {
      r.fail(std::string("optimiser state (tensors 'optim.*'): ") + e.what());
    }
  }
  Generator::State generator{};
  if (state.generator) generator = r.generator(meta);
  if (state.schedule) {
    const std::optional<nlohmann::json> schedule = r.schedule(meta);
    if (!schedule) r.fail("was saved without a schedule (__metadata__ 'schedule'), but one is given");
    const nlohmann::json& saved = *schedule;
    if (saved != state.schedule->to_json())
      r.fail("was saved with schedule " + saved.dump() + ", but the given one is " + state.schedule->to_json().dump());
  }

  // Apply.
  for (auto& [name, p] : params) {
    Tensor target = p;
    if (target.numel() > 0) std::memcpy(target.data(), model_tensors.at(name)->data(), sizeof(Scalar) * target.numel());
  }
  if (state.optimizer) state.optimizer->load_state(optim);
  if (state.generator) state.generator->set_state(generator);
  state.step = step;
  state.config = std::move(config);
  return file.checksummed;
}

}  // namespace qkv
