#include "bench/model_size.h"

#include <fstream>
#include <stdexcept>
#include <nlohmann/json.hpp>

namespace qkv_bench {

ModelSize read_size(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open the benchmark config");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON (" + e.what() + ")");
  }
  // Every value is a positive number but the seed, which may be 0.
  auto get = [&](const char* section, const char* key) -> const nlohmann::json& {
    const std::string where = path + ": /" + section + "/" + key;
    if (!j.contains(section) || !j[section].contains(key)) throw std::runtime_error(where + ": missing");
    const nlohmann::json& v = j[section][key];
    const bool seed = std::string(key) == "seed";
    if (!v.is_number() || v.get<double>() < 0 || (!seed && v.get<double>() == 0))
      throw std::runtime_error(where + ": expected a " + (seed ? "non-negative" : "positive") + " number, found " + v.dump());
    return v;
  };
  bool causal = false;
  if (j["model"].contains("causal")) {
    if (!j["model"]["causal"].is_boolean())
      throw std::runtime_error(path + ": /model/causal: expected true or false, found " + j["model"]["causal"].dump());
    causal = j["model"]["causal"].get<bool>();
  }
  return {get("model", "vocab").get<int64_t>(), get("model", "seq_len").get<int64_t>(),
          get("model", "d_model").get<int64_t>(), get("model", "heads").get<int64_t>(),
          get("model", "layers").get<int64_t>(),  get("train", "batch").get<int64_t>(),
          get("train", "lr").get<double>(),       get("train", "seed").get<uint64_t>(), causal};
}

double step_flops(const ModelSize& s) {
  const double d = static_cast<double>(s.d_model), n = static_cast<double>(s.seq_len);
  const double per_token = static_cast<double>(s.layers) * (24 * d * d + 4 * n * d) + 2 * d * static_cast<double>(s.vocab);
  return 3 * per_token * static_cast<double>(s.batch * s.seq_len);
}

}  // namespace qkv_bench
