#include "train/run_logs.h"

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "io/json_text.h"
#include "io/regular_file.h"

namespace qkv {
namespace {
using json = nlohmann::json;

constexpr size_t kMaxRowDepth = 8;  // a probes row nests 4 levels: row, attention, layer, head
constexpr const char* kHeadStats[] = {"entropy", "jacobian_norm", "dead_fraction", "max_weight"};
constexpr const char* kParameterStats[] = {"grad_norm", "update_ratio"};

// A value as a message shows it: its type, and its text when short.
std::string found(const json& value) {
  std::string text = value.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return value.is_null() ? "null" : std::string(value.type_name()) + " " + printable(text);
}

// One line of one file: where every message of its row points.
struct Line {
  const std::string& source;
  size_t number;

  [[noreturn]] void fail(const std::string& what) const {
    throw RunLogError(source + ":" + std::to_string(number) + ": " + what);
  }
  [[noreturn]] void fail(const std::string& field, const std::string& expected, const std::string& got) const {
    fail("field '" + field + "': expected " + expected + ", found " + got);
  }

  const json& member(const json& object, const std::string& key, const std::string& field,
                     const std::string& expected) const {
    const auto it = object.find(key);
    if (it == object.end()) fail(field, expected, "nothing (the field is missing)");
    return *it;
  }

  json parse(std::string_view text) const {
    if (!invalid_utf8_offset(text) && text.find('\0') == std::string_view::npos) {
      try {
        return parse_json_text(text, kMaxRowDepth);
      } catch (const JsonTextError& e) {
        if (e.kind() == JsonTextError::Kind::too_deep)
          fail("the row nests deeper than " + std::to_string(kMaxRowDepth) + " levels");
        fail("malformed JSON at byte " + std::to_string(e.byte()) + " of the line: " + e.what());
      }
    }
    fail("the line is not UTF-8 text without NUL bytes: " + printable(text.substr(0, 60)));
  }

  json object_row(std::string_view text) const {
    json row = parse(text);
    if (!row.is_object()) fail("expected a JSON object (a row), found " + found(row));
    return row;
  }

  int64_t step(const json& row) const {
    const json& value = member(row, "step", "step", "a non-negative integer");
    if (!value.is_number_integer() || value.get<int64_t>() < 0)
      fail("step", "a non-negative integer", found(value));
    return value.get<int64_t>();
  }

  // An absent statistic, or null (as JSON writes NaN and infinities), reads as NaN.
  double statistic(const json& object, const char* key, const std::string& field) const {
    const auto it = object.find(key);
    if (it == object.end() || it->is_null()) return std::numeric_limits<double>::quiet_NaN();
    if (!it->is_number()) fail(field, "a number or null", found(*it));
    return it->get<double>();
  }
};

// Calls each(line, number) for every non-empty line, refusing lines over max_bytes
// before they are parsed.
template <class Each>
void for_each_line(std::string_view text, const std::string& source, size_t max_bytes, Each each) {
  size_t number = 0;
  for (size_t begin = 0; begin < text.size();) {
    ++number;
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    const Line at{source, number};
    if (line.size() > max_bytes)
      at.fail("the line is " + std::to_string(line.size()) + " bytes, over the limit of " + std::to_string(max_bytes) +
              " (line length)");
    if (!line.empty()) each(line, at);
    begin = end + 1;
  }
}

std::string read_run_log(const std::string& path) {
  try {
    return read_regular_file(path, kMaxRunLogBytes);
  } catch (const FileReadError& e) {
    throw RunLogError(e.what());
  }
}

std::string parameter_field(const std::string& name) {
  return "parameters." + json(name).dump(-1, ' ', false, json::error_handler_t::replace);
}

// The first row's layers and heads, checked against the limits.
std::vector<size_t> attention_shape(const json& attention, const Line& at) {
  if (attention.size() > kMaxProbeLayers)
    at.fail("attention", "at most " + std::to_string(kMaxProbeLayers) + " layers (the limit of layers)",
            std::to_string(attention.size()) + " layers");
  std::vector<size_t> heads;
  size_t total = 0;
  for (size_t l = 0; l < attention.size(); ++l) {
    const json& layer = attention[l];
    if (!layer.is_array()) at.fail("attention[" + std::to_string(l) + "]", "an array of heads", found(layer));
    total += layer.size();
    if (total > kMaxProbeHeads)
      at.fail("attention", "at most " + std::to_string(kMaxProbeHeads) + " heads in all layers (the limit of heads)",
              "more than " + std::to_string(kMaxProbeHeads) + " by layer " + std::to_string(l));
    heads.push_back(layer.size());
  }
  return heads;
}

void read_attention(const json& row, ProbesTable& table, ProbesTable::Row& out, const Line& at, size_t first_line) {
  const std::string expected = "an array of layers, each an array of heads";
  const json& attention = at.member(row, "attention", "attention", expected);
  if (!attention.is_array()) at.fail("attention", expected, found(attention));
  const std::vector<size_t> heads = attention_shape(attention, at);
  if (table.rows.empty()) table.heads_per_layer = heads;
  if (heads.size() != table.heads_per_layer.size())
    at.fail("attention", std::to_string(table.heads_per_layer.size()) + " layers as on line " +
                             std::to_string(first_line), std::to_string(heads.size()) + " layers");
  for (size_t l = 0; l < heads.size(); ++l) {
    const std::string layer_field = "attention[" + std::to_string(l) + "]";
    if (heads[l] != table.heads_per_layer[l])
      at.fail(layer_field, std::to_string(table.heads_per_layer[l]) + " heads as on line " + std::to_string(first_line),
              std::to_string(heads[l]) + " heads");
    for (size_t h = 0; h < heads[l]; ++h) {
      const json& head = attention[l][h];
      const std::string field = layer_field + "[" + std::to_string(h) + "]";
      if (!head.is_object())
        at.fail(field, "an object of entropy, jacobian_norm, dead_fraction and max_weight", found(head));
      for (const char* key : kHeadStats) out.attention.push_back(at.statistic(head, key, field + "." + key));
      out.max_logits.push_back(at.statistic(head, "max_logit", field + ".max_logit"));
    }
  }
}

void read_parameters(const json& row, ProbesTable& table, ProbesTable::Row& out, const Line& at) {
  const std::string expected = "an object of parameter names";
  const json& parameters = at.member(row, "parameters", "parameters", expected);
  if (!parameters.is_object()) at.fail("parameters", expected, found(parameters));
  if (parameters.size() > kMaxProbeParameters)
    at.fail("parameters", "at most " + std::to_string(kMaxProbeParameters) + " entries (the limit of parameters per row)",
            std::to_string(parameters.size()) + " entries");
  for (const auto& [name, value] : parameters.items())
    if (!value.is_object()) at.fail(parameter_field(name), "an object of grad_norm and update_ratio", found(value));
  if (table.rows.empty())
    for (const auto& [name, value] : parameters.items()) table.parameters.push_back(name);
  for (const std::string& name : table.parameters) {
    const auto it = parameters.find(name);
    for (const char* key : kParameterStats)
      out.parameters.push_back(it == parameters.end() ? std::numeric_limits<double>::quiet_NaN()
                                                      : at.statistic(*it, key, parameter_field(name) + "." + key));
  }
}

}  // namespace

size_t ProbesTable::heads() const {
  size_t n = 0;
  for (size_t h : heads_per_layer) n += h;
  return n;
}

std::vector<MetricsRow> parse_metrics_jsonl(std::string_view text, const std::string& source) {
  std::vector<MetricsRow> rows;
  for_each_line(text, source, kMaxMetricsLineBytes, [&](std::string_view line, const Line& at) {
    const json row = at.object_row(line);
    MetricsRow r;
    r.step = at.step(row);
    r.loss = at.statistic(row, "loss", "loss");
    r.accuracy = at.statistic(row, "accuracy", "accuracy");
    r.lr = at.statistic(row, "lr", "lr");
    r.grad_norm = at.statistic(row, "grad_norm", "grad_norm");
    r.step_time = at.statistic(row, "step_time", "step_time");
    if (row.contains("eval_loss")) r.eval_loss = at.statistic(row, "eval_loss", "eval_loss");
    if (row.contains("eval_accuracy")) r.eval_accuracy = at.statistic(row, "eval_accuracy", "eval_accuracy");
    rows.push_back(r);
  });
  return rows;
}

ProbesTable parse_probes_jsonl(std::string_view text, const std::string& source) {
  ProbesTable table;
  size_t first_line = 0;
  for_each_line(text, source, kMaxProbesLineBytes, [&](std::string_view line, const Line& at) {
    const json row = at.object_row(line);
    if (table.rows.empty()) first_line = at.number;
    ProbesTable::Row r;
    r.step = at.step(row);
    read_attention(row, table, r, at, first_line);
    read_parameters(row, table, r, at);
    table.rows.push_back(std::move(r));
  });
  return table;
}

std::vector<MetricsRow> read_metrics_jsonl(const std::string& path) {
  return parse_metrics_jsonl(read_run_log(path), path);
}

ProbesTable read_probes_jsonl(const std::string& path) { return parse_probes_jsonl(read_run_log(path), path); }

}  // namespace qkv
