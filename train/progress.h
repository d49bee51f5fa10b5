// Progress output of a run. On a terminal: one status line redrawn in place with \r
// (step, loss, accuracy, steps/s, ETA), at most ~10 times a second. Elsewhere (a pipe, a
// log file): a plain line every log_interval steps. Messages (evaluations, checkpoints)
// get lines of their own in both cases.
#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "train/metrics.h"

namespace qkv {

struct ProgressOptions {
  int64_t total_steps = 0;
  int64_t first_step = 0;  // steps already done when this session started (resume)
  int64_t log_interval = 10;
  bool terminal = false;   // redraw a bar instead of printing lines
};

class Progress {
 public:
  Progress(std::ostream& out, ProgressOptions options);
  void update(const StepMetrics& metrics);
  void message(const std::string& line);  // a line of its own, below the bar
  void finish();                          // ends the bar's line

  double steps_per_second(int64_t step) const;

 private:
  using Clock = std::chrono::steady_clock;
  std::ostream& out_;
  ProgressOptions options_;
  Clock::time_point start_, last_draw_;
  bool bar_drawn_ = false;
};

// "1h02m", "3m07s", "12s".
std::string format_duration(double seconds);

}  // namespace qkv
