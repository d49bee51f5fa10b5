#include "optim/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "optim/optimizer.h"

namespace qkv {

namespace {
void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("schedule: " + what);
}
void require_step(int64_t step) { require(step >= 0, "step must be >= 0, got " + std::to_string(step)); }
}  // namespace

void Schedule::apply(Optimizer& optimizer, int64_t step) const {
  for (size_t g = 0; g < optimizer.groups().size(); ++g)
    optimizer.set_lr(g, lr(step, optimizer.groups()[g].base_lr));
}

double ConstantSchedule::lr(int64_t step, double base_lr) const {
  require_step(step);
  return base_lr;
}
nlohmann::json ConstantSchedule::to_json() const { return {{"kind", "constant"}}; }

StepSchedule::StepSchedule(StepScheduleOptions options) : options_(options) {
  require(options.step_size > 0, "step: step_size must be positive, got " + std::to_string(options.step_size));
  require(options.gamma >= 0, "step: gamma must be >= 0");
}
double StepSchedule::lr(int64_t step, double base_lr) const {
  require_step(step);
  return base_lr * std::pow(options_.gamma, static_cast<double>(step / options_.step_size));
}
nlohmann::json StepSchedule::to_json() const {
  return {{"kind", "step"}, {"step_size", options_.step_size}, {"gamma", options_.gamma}};
}

ExponentialSchedule::ExponentialSchedule(ExponentialScheduleOptions options) : options_(options) {
  require(options.gamma >= 0, "exponential: gamma must be >= 0");
}
double ExponentialSchedule::lr(int64_t step, double base_lr) const {
  require_step(step);
  return base_lr * std::pow(options_.gamma, static_cast<double>(step));
}
nlohmann::json ExponentialSchedule::to_json() const { return {{"kind", "exponential"}, {"gamma", options_.gamma}}; }

CosineSchedule::CosineSchedule(CosineScheduleOptions options) : options_(options) {
  require(options.t_max > 0, "cosine: t_max must be positive, got " + std::to_string(options.t_max));
}
double CosineSchedule::lr(int64_t step, double base_lr) const {
  require_step(step);
  const double p = static_cast<double>(std::min(step, options_.t_max)) / static_cast<double>(options_.t_max);
  return options_.eta_min + (base_lr - options_.eta_min) * (1 + std::cos(std::numbers::pi * p)) / 2;
}
nlohmann::json CosineSchedule::to_json() const {
  return {{"kind", "cosine"}, {"t_max", options_.t_max}, {"eta_min", options_.eta_min}};
}

WarmupSchedule::WarmupSchedule(WarmupScheduleOptions options) : options_(options) {
  require(options.warmup_steps >= 0, "warmup: warmup_steps must be >= 0");
  require(options.total_steps > options.warmup_steps,
          "warmup: total_steps (" + std::to_string(options.total_steps) + ") must exceed warmup_steps (" +
              std::to_string(options.warmup_steps) + ")");
}
double WarmupSchedule::lr(int64_t step, double base_lr) const {
  require_step(step);
  const int64_t warmup = options_.warmup_steps;
  if (step < warmup) return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double p = std::min(1.0, static_cast<double>(step - warmup) / static_cast<double>(options_.total_steps - warmup));
  const double min_lr = options_.min_lr;
  if (options_.decay == WarmupDecay::linear) return base_lr - (base_lr - min_lr) * p;
  return min_lr + (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * p)) / 2;
}
nlohmann::json WarmupSchedule::to_json() const {
  return {{"kind", "warmup"},
          {"warmup_steps", options_.warmup_steps},
          {"total_steps", options_.total_steps},
          {"min_lr", options_.min_lr},
          {"decay", options_.decay == WarmupDecay::cosine ? "cosine" : "linear"}};
}

std::unique_ptr<Schedule> make_schedule(const nlohmann::json& spec) {
  require(spec.is_object() && spec.contains("kind") && spec["kind"].is_string(),
          "a schedule is an object with a string \"kind\", got " + spec.dump());
  const std::string kind = spec["kind"];
  auto number = [&](const char* key, double fallback) {
    if (!spec.contains(key)) return fallback;
    require(spec[key].is_number(), kind + ": \"" + key + "\" must be a number, got " + spec[key].dump());
    return spec[key].get<double>();
  };
  auto integer = [&](const char* key, int64_t fallback) {
    if (!spec.contains(key)) return fallback;
    require(spec[key].is_number_integer(), kind + ": \"" + key + "\" must be an integer, got " + spec[key].dump());
    return spec[key].get<int64_t>();
  };
  if (kind == "constant") return std::make_unique<ConstantSchedule>();
  if (kind == "step")
    return std::make_unique<StepSchedule>(StepScheduleOptions{.step_size = integer("step_size", 1), .gamma = number("gamma", 0.1)});
  if (kind == "exponential")
    return std::make_unique<ExponentialSchedule>(ExponentialScheduleOptions{.gamma = number("gamma", 0.99)});
  if (kind == "cosine")
    return std::make_unique<CosineSchedule>(CosineScheduleOptions{.t_max = integer("t_max", 1), .eta_min = number("eta_min", 0)});
  if (kind == "warmup") {
    require(!spec.contains("decay") || spec["decay"].is_string(), "warmup: \"decay\" must be a string");
    const std::string decay = spec.value("decay", std::string("cosine"));
    require(decay == "cosine" || decay == "linear", "warmup: \"decay\" must be \"cosine\" or \"linear\", got \"" + decay + "\"");
    return std::make_unique<WarmupSchedule>(WarmupScheduleOptions{
        .warmup_steps = integer("warmup_steps", 0),
        .total_steps = integer("total_steps", 1),
        .min_lr = number("min_lr", 0),
        .decay = decay == "cosine" ? WarmupDecay::cosine : WarmupDecay::linear});
  }
  throw std::invalid_argument("schedule: unknown kind \"" + kind +
                              "\" (known: constant, step, exponential, cosine, warmup)");
}

}  // namespace qkv
