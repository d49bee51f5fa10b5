// Learning-rate schedules. A schedule is a pure function of the step (0 for the first
// update) and a group's base rate, so its position in a checkpoint is just the step
// number. apply_schedule sets every group of an optimiser to lr(step, group's base rate):
//   sched.apply(opt, step); opt.step();
#pragma once

#include <cstdint>
#include <memory>

#include <nlohmann/json.hpp>

namespace qkv {

class Optimizer;

class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double lr(int64_t step, double base_lr) const = 0;
  // {"kind": ..., options...}: written to checkpoints and logs; make_schedule reads it.
  virtual nlohmann::json to_json() const = 0;
  void apply(Optimizer& optimizer, int64_t step) const;
};

// lr = base_lr.
class ConstantSchedule : public Schedule {
 public:
  double lr(int64_t step, double base_lr) const override;
  nlohmann::json to_json() const override;
};

// lr = base_lr * gamma^floor(step / step_size), as torch.optim.lr_scheduler.StepLR.
struct StepScheduleOptions {
  int64_t step_size = 1;
  double gamma = 0.1;
};
class StepSchedule : public Schedule {
 public:
  explicit StepSchedule(StepScheduleOptions options);
  double lr(int64_t step, double base_lr) const override;
  nlohmann::json to_json() const override;

 private:
  StepScheduleOptions options_;
};

// lr = base_lr * gamma^step, as ExponentialLR.
struct ExponentialScheduleOptions {
  double gamma = 0.99;
};
class ExponentialSchedule : public Schedule {
 public:
  explicit ExponentialSchedule(ExponentialScheduleOptions options);
  double lr(int64_t step, double base_lr) const override;
  nlohmann::json to_json() const override;

 private:
  ExponentialScheduleOptions options_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / t_max)) / 2 for step <= t_max,
// as CosineAnnealingLR's closed form; after t_max it stays at eta_min (PyTorch's would
// climb back up).
struct CosineScheduleOptions {
  int64_t t_max = 1;
  double eta_min = 0;
};
class CosineSchedule : public Schedule {
 public:
  explicit CosineSchedule(CosineScheduleOptions options);
  double lr(int64_t step, double base_lr) const override;
  nlohmann::json to_json() const override;

 private:
  CosineScheduleOptions options_;
};

// Linear warm-up then a cosine or linear decay to min_lr:
//   step < warmup_steps:  lr = base_lr * (step + 1) / warmup_steps  (the first update
//                         already moves; the last warm-up step reaches base_lr)
//   afterwards:           p = min(1, (step - warmup_steps) / (total_steps - warmup_steps))
//                         cosine: lr = min_lr + (base_lr - min_lr) * (1 + cos(pi p)) / 2
//                         linear: lr = base_lr - (base_lr - min_lr) * p
enum class WarmupDecay { cosine, linear };
struct WarmupScheduleOptions {
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double min_lr = 0;
  WarmupDecay decay = WarmupDecay::cosine;
};
class WarmupSchedule : public Schedule {
 public:
  explicit WarmupSchedule(WarmupScheduleOptions options);
  double lr(int64_t step, double base_lr) const override;
  nlohmann::json to_json() const override;

 private:
  WarmupScheduleOptions options_;
};

// Builds a schedule from its to_json() form (or a config written by hand); throws
// std::invalid_argument naming the bad key.
std::unique_ptr<Schedule> make_schedule(const nlohmann::json& spec);

}  // namespace qkv
