#include "train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

namespace qkv {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
  else if (s >= 60) std::snprintf(text, sizeof text, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  else std::snprintf(text, sizeof text, "%llds", (long long)s);
  return text;
}

Progress::Progress(std::ostream& out, ProgressOptions options)
    : out_(out), options_(options), start_(Clock::now()), last_draw_(start_) {}

double Progress::steps_per_second(int64_t step) const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const int64_t done = step - options_.first_step;
  return elapsed > 0 && done > 0 ? static_cast<double>(done) / elapsed : 0.0;
}

void Progress::update(const StepMetrics& m) {
  const bool last = m.step == options_.total_steps;
  const double rate = steps_per_second(m.step);
  const std::string eta = rate > 0 ? format_duration(static_cast<double>(options_.total_steps - m.step) / rate) : "?";
  char text[256];
  if (options_.terminal) {
    const auto now = Clock::now();
    if (!last && now - last_draw_ < std::chrono::milliseconds(100) && bar_drawn_) return;
    last_draw_ = now;
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(kWidth * m.step / std::max<int64_t>(1, options_.total_steps));
    const std::string bar = std::string(filled, '=') + std::string(kWidth - filled, ' ');
    std::snprintf(text, sizeof text, "\r[%s] step %lld/%lld  loss %.4f  acc %.3f  %.1f steps/s  ETA %s   ",
                  bar.c_str(), (long long)m.step, (long long)options_.total_steps, m.loss, m.accuracy, rate,
                  eta.c_str());
    out_ << text << std::flush;
    bar_drawn_ = true;
    return;
  }
  if (m.step % options_.log_interval != 0 && !last) return;
  std::snprintf(text, sizeof text, "step %lld/%lld  loss %.4f  acc %.3f  lr %.3g  grad_norm %.3g  %.1f steps/s  ETA %s",
                (long long)m.step, (long long)options_.total_steps, m.loss, m.accuracy, m.lr, m.grad_norm, rate,
                eta.c_str());
  out_ << text << "\n" << std::flush;
}

void Progress::message(const std::string& line) {
  if (bar_drawn_) out_ << "\n";
  bar_drawn_ = false;
  out_ << line << "\n" << std::flush;
}

void Progress::finish() {
  if (bar_drawn_) out_ << "\n" << std::flush;
  bar_drawn_ = false;
}

}  // namespace qkv
