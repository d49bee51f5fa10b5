#include "train/metrics.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace qkv {
namespace {
using json = nlohmann::json;

// Shortest text that reads back as the same double, so a resumed run's rows are
// byte-identical to an uninterrupted run's.
std::string number(double x) { return json(x).dump(); }

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// The step of a complete row: a jsonl object with an integer "step", or a CSV row of
// `columns` fields whose first is the step. A row cut short by a crash or a full disk
// (a CSV row can lose its last fields and still start with a number) has none.
std::optional<int64_t> row_step(const std::string& line, bool csv, size_t columns) {
  try {
    if (csv) {
      if (static_cast<size_t>(std::count(line.begin(), line.end(), ',')) + 1 != columns) return std::nullopt;
      size_t used = 0;
      const std::string first = line.substr(0, line.find(','));
      const int64_t step = std::stoll(first, &used);
      return used == first.size() ? std::optional<int64_t>(step) : std::nullopt;
    }
    const json row = json::parse(line);
    return row.at("step").get<int64_t>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Rewrites `path` keeping its header (CSV) and the complete rows of steps <= last_step.
void truncate_after(const std::string& path, int64_t last_step, bool csv, const std::string& header, size_t columns) {
  if (!std::filesystem::exists(path)) {
    write_file_atomically(path, csv ? header + "\n" : "");
    return;
  }
  std::istringstream in(read_file(path));
  std::string line, kept;
  bool first = true;
  while (std::getline(in, line)) {
    // A last line without its newline was cut while being written.
    if (in.eof()) break;
    if (csv && first) {
      if (line != header)
        throw std::runtime_error(path + ": its columns differ from this run's (was it written by another "
                                 "model?); expected the header\n  " + header + "\nfound\n  " + line);
      kept += line + "\n";
    } else {
      const std::optional<int64_t> step = row_step(line, csv, columns);
      if (step && *step <= last_step) kept += line + "\n";
    }
    first = false;
  }
  if (csv && first) kept = header + "\n";
  write_file_atomically(path, kept);
}
}  // namespace

GradientNorms gradient_norms(const std::vector<Tensor>& parameters) {
  GradientNorms norms;
  double total = 0;
  for (const Tensor& p : parameters) {
    const Tensor g = p.grad();
    double sum = 0;
    if (g.defined()) {
      const Scalar* d = g.data();
      for (int64_t i = 0; i < g.numel(); ++i) sum += static_cast<double>(d[i]) * d[i];
    }
    norms.per_parameter.push_back(std::sqrt(sum));
    total += sum;
  }
  norms.global = std::sqrt(total);
  return norms;
}

Accuracy count_correct(const Tensor& logits, const Indices& targets, int64_t ignore_index) {
  const int64_t classes = logits.size(-1);
  if (logits.numel() != static_cast<int64_t>(targets.values.size()) * classes)
    throw std::invalid_argument("count_correct: logits " + shape_str(logits.shape()) +
                                " do not match targets " + shape_str(targets.shape));
  const Indices predicted = argmax(logits);
  Accuracy a;
  for (size_t i = 0; i < targets.values.size(); ++i) {
    if (targets.values[i] == ignore_index) continue;
    ++a.scored;
    if (predicted.values[i] == targets.values[i]) ++a.correct;
  }
  return a;
}

void check_run_file(const std::ofstream& stream, const std::string& path, const std::string& what) {
  // errno still holds the reason of the failed write (no space, file too large).
  if (!stream) throw RunFileError("cannot write " + path + " (" + what + "): " + std::strerror(errno));
}

std::ofstream open_jsonl(const std::string& path, std::optional<int64_t> resume_step) {
  if (resume_step) truncate_after(path, *resume_step, /*csv=*/false, "", 0);
  std::ofstream out(path, resume_step ? std::ios::app : std::ios::trunc);
  check_run_file(out, path, "open");
  return out;
}

MetricsLog::MetricsLog(const std::string& run_dir, std::optional<int64_t> resume_step) {
  columns_ = {"step", "loss", "accuracy", "lr", "grad_norm", "step_time", "eval_loss", "eval_accuracy"};
  std::string header;
  for (const std::string& c : columns_) header.append(header.empty() ? "" : ",").append(csv_field(c));

  jsonl_path_ = run_dir + "/metrics.jsonl";
  csv_path_ = run_dir + "/metrics.csv";
  jsonl_ = open_jsonl(jsonl_path_, resume_step);
  if (resume_step) {
    truncate_after(csv_path_, *resume_step, /*csv=*/true, header, columns_.size());
    csv_.open(csv_path_, std::ios::app);
  } else {
    csv_.open(csv_path_, std::ios::trunc);
    csv_ << header << "\n";
  }
  csv_.flush();
  check_run_file(csv_, csv_path_, "open");
}

void MetricsLog::write(const StepMetrics& m) {
  nlohmann::ordered_json row = {{"step", m.step}, {"loss", m.loss}, {"accuracy", m.accuracy}, {"lr", m.lr},
                                {"grad_norm", m.grad_norm}, {"step_time", m.step_time}};
  if (m.eval_loss) row["eval_loss"] = *m.eval_loss;
  if (m.eval_accuracy) row["eval_accuracy"] = *m.eval_accuracy;
  jsonl_ << row.dump() << "\n";
  jsonl_.flush();
  check_run_file(jsonl_, jsonl_path_, "the row of step " + std::to_string(m.step));

  std::string line = std::to_string(m.step);
  const auto field = [&line](const std::string& text) { line.append(",").append(text); };
  for (double x : {m.loss, m.accuracy, m.lr, m.grad_norm, m.step_time}) field(number(x));
  field(m.eval_loss ? number(*m.eval_loss) : std::string());
  field(m.eval_accuracy ? number(*m.eval_accuracy) : std::string());
  csv_ << line << "\n";
  csv_.flush();
  check_run_file(csv_, csv_path_, "the row of step " + std::to_string(m.step));
}

}  // namespace qkv
