// What a run measures each step, and the two files it goes to in the run folder:
//   metrics.jsonl  one JSON object per step
//   metrics.csv    the same, one row per step
// Both hold the same rows; eval_loss and eval_accuracy are filled at evaluation steps only.
// Per-parameter and per-head series go to probes.jsonl at probe steps (train/probes.h),
// which keeps these files a few numbers per step.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/tensor.h"

namespace qkv {

struct StepMetrics {
  int64_t step = 0;                      // updates done, 1 for the first
  double loss = 0;                       // of the training batch
  double accuracy = 0;                   // of the training batch, over scored positions
  double lr = 0;                         // the rate this update used (first group)
  double grad_norm = 0;                  // global L2 norm of all gradients, before clipping
  double step_time = 0;                  // seconds for this update (wall clock)
  std::optional<double> eval_loss;       // at evaluation steps
  std::optional<double> eval_accuracy;
};

// Per-parameter gradient L2 norms (accumulated in double) and their global norm; a
// parameter with no gradient counts 0.
struct GradientNorms {
  std::vector<double> per_parameter;
  double global = 0;
};
GradientNorms gradient_norms(const std::vector<Tensor>& parameters);

// Arg-max predictions of logits [.., C] against targets [..] where target != ignore_index.
struct Accuracy {
  int64_t correct = 0;
  int64_t scored = 0;
  double value() const { return scored == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(scored); }
};
Accuracy count_correct(const Tensor& logits, const Indices& targets, int64_t ignore_index);

// A file of the run folder that could not be written (a full disk, a file-size limit).
class RunFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws RunFileError naming `path` and errno's reason when `stream` failed at `what`.
void check_run_file(const std::ofstream& stream, const std::string& path, const std::string& what);

// Opens a JSONL file of the run folder for this session: a fresh run truncates it; a
// resumed one keeps the complete rows of steps <= resume_step (the rest were written
// after the checkpoint it resumes from).
std::ofstream open_jsonl(const std::string& path, std::optional<int64_t> resume_step);

class MetricsLog {
 public:
  // Opens <run_dir>/metrics.jsonl and metrics.csv. A fresh log truncates them; a resumed
  // one (resume_step set) keeps the rows of steps <= resume_step and drops later ones, so
  // the files continue exactly as an uninterrupted run's. Throws std::runtime_error
  // naming the file when it cannot be written or its CSV columns differ.
  MetricsLog(const std::string& run_dir, std::optional<int64_t> resume_step);

  // One row in each file, flushed; throws RunFileError naming the file and the reason
  // when a write fails.
  void write(const StepMetrics& metrics);

  const std::vector<std::string>& csv_columns() const { return columns_; }

 private:
  std::vector<std::string> columns_;
  std::string jsonl_path_, csv_path_;
  std::ofstream jsonl_, csv_;
};

}  // namespace qkv
