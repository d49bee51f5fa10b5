// Reading a run folder's metrics.jsonl and probes.jsonl back (for plot_runs), from any
// bytes: a hand-edited file, a truncated one, one of another program. Every problem is a
// RunLogError naming the file, the line and the field, with what was expected and what
// was found. Sizes that would take unbounded time or memory to read or plot are refused
// with the limit that names them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace qkv {

class RunLogError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Limits. A run of the largest config a plot is useful for stays well inside them.
constexpr uint64_t kMaxRunLogBytes = 256ull << 20;    // a whole metrics.jsonl or probes.jsonl
constexpr size_t kMaxMetricsLineBytes = 64 << 10;     // one metrics row (a real one is ~200 bytes)
constexpr size_t kMaxProbesLineBytes = 4 << 20;       // one probes row
constexpr size_t kMaxProbeLayers = 64;                // "attention": layers
constexpr size_t kMaxProbeHeads = 64;                 // "attention": heads of all layers together
constexpr size_t kMaxProbeParameters = 512;           // "parameters": entries of one row

// One row of metrics.jsonl (train/metrics.h). A statistic that is absent or null (how
// JSON writes NaN and infinities) reads as NaN.
struct MetricsRow {
  int64_t step = 0;
  double loss = 0, accuracy = 0, lr = 0, grad_norm = 0;
  double step_time = 0;  // seconds
  std::optional<double> eval_loss, eval_accuracy;  // present at evaluation steps
};

// probes.jsonl (train/probes.h) as a table: the first row fixes the layers, heads and
// parameters; every later row must have the same layers and heads.
struct ProbesTable {
  std::vector<size_t> heads_per_layer;
  std::vector<std::string> parameters;  // names, in the first row's order
  struct Row {
    int64_t step = 0;
    std::vector<double> attention;   // per head (layer by layer): entropy, jacobian_norm, dead_fraction, max_weight
    std::vector<double> max_logits;  // per head (layer by layer); NaN where a row lacks it (older files)
    std::vector<double> parameters;  // per parameter: grad_norm, update_ratio (NaN where a row lacks it)
  };
  std::vector<Row> rows;
  size_t heads() const;
};

// From text; `source` names it in messages. Empty lines are skipped.
std::vector<MetricsRow> parse_metrics_jsonl(std::string_view text, const std::string& source);
ProbesTable parse_probes_jsonl(std::string_view text, const std::string& source);

// From a regular file (io/regular_file.h: a FIFO or a folder is refused, never waited on).
std::vector<MetricsRow> read_metrics_jsonl(const std::string& path);
ProbesTable read_probes_jsonl(const std::string& path);

}  // namespace qkv
