#include "train/build.h"

#include <algorithm>
#include <stdexcept>

#include "core/autograd.h"
#include "core/parallel.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"

namespace qkv {

SequenceModelOptions sequence_model_options(const ModelConfig& m, const Task& task) {
  ScorerOptions scorer;
  scorer.kind = m.scorer;
  // ModelConfig::scale is already resolved (sqrt_dk -> 1/sqrt(d_head)); pass it as a factor
  // so that the model scores exactly what the config says.
  if (m.scorer == "scaled_dot" || m.scorer == "learned_temperature")
    scorer.scale = ScoreScale::by(static_cast<Scalar>(m.scale));
  if (m.scorer == "additive") scorer.additive_hidden = m.additive_hidden;
  if (m.relative_bias == "clipped") {
    scorer.relative_bias = {.kind = "clipped", .window = m.relative_window};
  } else if (m.relative_bias == "t5") {
    // A causal model never looks ahead: T5 then spends every bucket on one direction.
    scorer.relative_bias = {.kind = "t5", .num_buckets = m.relative_buckets,
                            .max_distance = m.relative_max_distance, .bidirectional = !m.causal};
  }
  return SequenceModelOptions{
      .vocab_size = task.continuous() ? 0 : task.vocab_size(),
      .input_features = task.continuous() ? task.feature_dim() : 0,
      .num_classes = task.num_classes(),
      .max_len = task.seq_len(),
      .d_model = m.d_model,
      .heads = m.heads,
      .d_head = m.d_head,
      .layers = m.layers,
      .d_ff = m.d_ff,
      .dropout = static_cast<Scalar>(m.dropout),
      .activation = m.activation,
      .positional = m.positional,
      .scorer = scorer,
      .causal = m.causal,
  };
}

Init weight_init(const ModelConfig& m) {
  if (m.init == "xavier_uniform") return Init::xavier_uniform();
  if (m.init == "xavier_normal") return Init::xavier_normal();
  if (m.init == "kaiming_uniform") return Init::kaiming_uniform();
  if (m.init == "normal") return Init::normal(static_cast<Scalar>(m.init_std));
  throw std::invalid_argument("weight_init: unknown model.init \"" + m.init +
                              "\" (xavier_uniform, xavier_normal, kaiming_uniform, normal)");
}

namespace {
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

void initialize_weights(Module& model, const Init& init, Generator& gen) {
  NoGradGuard no_grad;
  for (auto& [name, p] : model.named_parameters()) {
    // Lookup tables are not weight matrices: their rows are vectors, not fan-in sums.
    const bool table = name.rfind("embed.", 0) == 0 || ends_with(name, "table");
    if (p.dim() < 2 || table) continue;
    const Tensor fresh = init.make(p.shape(), gen);
    std::copy(fresh.data(), fresh.data() + fresh.numel(), p.data());
  }
}

std::shared_ptr<SequenceModel> build_model(const ModelConfig& config, const Task& task, Generator& gen) {
  auto model = std::make_shared<SequenceModel>(sequence_model_options(config, task), gen);
  initialize_weights(*model, weight_init(config), gen);
  return model;
}

std::unique_ptr<Optimizer> build_optimizer(const OptimizerConfig& c, const Module& model) {
  std::vector<ParamGroup> groups =
      c.no_decay_on_bias_and_norm ? weight_decay_groups(model, c.weight_decay)
                                  : std::vector<ParamGroup>{{.params = model.named_parameters()}};
  if (c.name == "sgd")
    return std::make_unique<SGD>(std::move(groups), SGDOptions{.lr = c.lr, .momentum = c.momentum,
                                                               .dampening = c.dampening,
                                                               .weight_decay = c.weight_decay,
                                                               .nesterov = c.nesterov});
  if (c.name == "adam")
    return std::make_unique<Adam>(std::move(groups), AdamOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                 .eps = c.eps, .weight_decay = c.weight_decay,
                                                                 .amsgrad = c.amsgrad});
  if (c.name == "adamw")
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                   .eps = c.eps, .weight_decay = c.weight_decay,
                                                                   .amsgrad = c.amsgrad});
  if (c.name == "rmsprop")
    return std::make_unique<RMSprop>(std::move(groups), RMSpropOptions{.lr = c.lr, .alpha = c.alpha, .eps = c.eps,
                                                                       .weight_decay = c.weight_decay,
                                                                       .momentum = c.momentum,
                                                                       .centered = c.centered});
  if (c.name == "adagrad")
    return std::make_unique<Adagrad>(std::move(groups),
                                     AdagradOptions{.lr = c.lr, .weight_decay = c.weight_decay, .eps = c.eps});
  throw std::invalid_argument("build_optimizer: unknown optimizer.name \"" + c.name +
                              "\" (sgd, adam, adamw, rmsprop, adagrad)");
}

std::unique_ptr<Schedule> build_schedule(const ScheduleConfig& c, int64_t total_steps) {
  // The last update has position total_steps - 1: decays end there.
  const int64_t last = std::max<int64_t>(1, total_steps - 1);
  if (c.name == "constant") return std::make_unique<ConstantSchedule>();
  if (c.name == "step")
    return std::make_unique<StepSchedule>(StepScheduleOptions{.step_size = c.step_size, .gamma = c.gamma});
  if (c.name == "exponential") return std::make_unique<ExponentialSchedule>(ExponentialScheduleOptions{.gamma = c.gamma});
  if (c.name == "cosine") return std::make_unique<CosineSchedule>(CosineScheduleOptions{.t_max = last, .eta_min = c.min_lr});
  if (c.name == "warmup_cosine" || c.name == "warmup_linear")
    return std::make_unique<WarmupSchedule>(WarmupScheduleOptions{
        .warmup_steps = c.warmup_steps,
        .total_steps = std::max(last, c.warmup_steps + 1),
        .min_lr = c.min_lr,
        .decay = c.name == "warmup_cosine" ? WarmupDecay::cosine : WarmupDecay::linear});
  throw std::invalid_argument("build_schedule: unknown schedule.name \"" + c.name +
                              "\" (constant, step, exponential, cosine, warmup_cosine, warmup_linear)");
}

int configure_threads(int64_t threads) {
  if (threads > 0) set_num_threads(static_cast<int>(threads));
  return num_threads();
}

}  // namespace qkv
