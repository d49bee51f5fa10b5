#include "train/build.h"

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <stdexcept>
#include <utility>

#include "core/autograd.h"
#include "core/parallel.h"
#include "optim/adagrad.h"
#include "optim/adam.h"
#include "optim/rmsprop.h"
#include "optim/sgd.h"
#include "train/schema.h"

namespace qkv {

SequenceModelOptions sequence_model_options(const ModelConfig& m, const Task& task) {
  ScorerOptions scorer;
  scorer.kind = m.scorer;
  scorer.settings = m.scorer_settings;
  // ModelConfig::scale is already resolved (sqrt_dk -> 1/sqrt(d_head)); pass it as a factor
  // so that the model scores exactly what the config says.
  if (m.scorer == "scaled_dot" || m.scorer == "learned_temperature")
    scorer.scale = ScoreScale::by(static_cast<Scalar>(m.scale));
  if (m.scorer == "additive") scorer.additive_hidden = m.additive_hidden;
  scorer.softcap = static_cast<Scalar>(m.softcap);
  if (m.relative_bias == RelativeBiasKind::clipped) {
    scorer.relative_bias = {.kind = RelativeBiasKind::clipped, .window = m.relative_window};
  } else if (m.relative_bias == RelativeBiasKind::t5) {
    // A causal model never looks ahead: T5 then spends every bucket on one direction.
    scorer.relative_bias = {.kind = RelativeBiasKind::t5, .num_buckets = m.relative_buckets,
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
      .kv_heads = m.kv_heads,
      .window = m.window,
      .sink = m.sink,
      .normalizer = m.normalizer,
      .sigma_reparam = m.sigma_reparam,
  };
}

Init weight_init(const ModelConfig& m) {
  switch (m.init) {
    case Init::Kind::zeros: return Init::zeros();
    case Init::Kind::normal: return Init::normal(static_cast<Scalar>(m.init_std));
    case Init::Kind::xavier_uniform: return Init::xavier_uniform();
    case Init::Kind::xavier_normal: return Init::xavier_normal();
    case Init::Kind::kaiming_uniform: return Init::kaiming_uniform();
    case Init::Kind::kaiming_normal: return Init::kaiming_normal();
  }
  throw std::invalid_argument("weight_init: a value outside Init::Kind");
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
  reset_sigma_reparams(model);  // gamma = sigma(W) of the new weights
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
  if (c.name == OptimizerKind::sgd)
    return std::make_unique<SGD>(std::move(groups), SGDOptions{.lr = c.lr, .momentum = c.momentum,
                                                               .dampening = c.dampening,
                                                               .weight_decay = c.weight_decay,
                                                               .nesterov = c.nesterov});
  if (c.name == OptimizerKind::adam)
    return std::make_unique<Adam>(std::move(groups), AdamOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                 .eps = c.eps, .weight_decay = c.weight_decay,
                                                                 .amsgrad = c.amsgrad});
  if (c.name == OptimizerKind::adamw)
    return std::make_unique<AdamW>(std::move(groups), AdamWOptions{.lr = c.lr, .beta1 = c.beta1, .beta2 = c.beta2,
                                                                   .eps = c.eps, .weight_decay = c.weight_decay,
                                                                   .amsgrad = c.amsgrad});
  if (c.name == OptimizerKind::rmsprop)
    return std::make_unique<RMSprop>(std::move(groups), RMSpropOptions{.lr = c.lr, .alpha = c.alpha, .eps = c.eps,
                                                                       .weight_decay = c.weight_decay,
                                                                       .momentum = c.momentum,
                                                                       .centered = c.centered});
  if (c.name == OptimizerKind::adagrad)
    return std::make_unique<Adagrad>(std::move(groups),
                                     AdagradOptions{.lr = c.lr, .weight_decay = c.weight_decay, .eps = c.eps});
  throw std::invalid_argument("build_optimizer: a value outside OptimizerKind");
}

std::unique_ptr<Schedule> build_schedule(const ScheduleConfig& c, int64_t total_steps) {
  // The last update has position total_steps - 1: decays end there.
  const int64_t last = std::max<int64_t>(1, total_steps - 1);
  if (c.name == ScheduleKind::constant) return std::make_unique<ConstantSchedule>();
  if (c.name == ScheduleKind::step)
    return std::make_unique<StepSchedule>(StepScheduleOptions{.step_size = c.step_size, .gamma = c.gamma});
  if (c.name == ScheduleKind::exponential) return std::make_unique<ExponentialSchedule>(ExponentialScheduleOptions{.gamma = c.gamma});
  if (c.name == ScheduleKind::cosine) return std::make_unique<CosineSchedule>(CosineScheduleOptions{.t_max = last, .eta_min = c.min_lr});
  if (c.name == ScheduleKind::warmup_cosine || c.name == ScheduleKind::warmup_linear)
    return std::make_unique<WarmupSchedule>(WarmupScheduleOptions{
        .warmup_steps = c.warmup_steps,
        .total_steps = std::max(last, c.warmup_steps + 1),
        .min_lr = c.min_lr,
        .decay = c.name == ScheduleKind::warmup_cosine ? WarmupDecay::cosine : WarmupDecay::linear});
  throw std::invalid_argument("build_schedule: a value outside ScheduleKind");
}

TaskSizes TaskSizes::of(const Task& task) {
  return {.vocab_size = task.continuous() ? 0 : task.vocab_size(), .feature_dim = task.continuous() ? task.feature_dim() : 0,
          .num_classes = task.num_classes(), .seq_len = task.seq_len()};
}

// Counted from the layers' structure (layers/sequence_model.h, encoder.h, attention.h):
// input, positional table, per block two LayerNorms, the q/k/v/output projections, the
// scorer's own weights (a built-in kind's by formula, a registered one's by building it)
// and the feed-forward block, then the final LayerNorm and the head.
namespace {
// A kind a program registered has parameters its factory alone knows: build one (without
// the relative bias, positions and cap wrapped around it, counted apart) and count them.
double registered_scorer_parameters(const ModelConfig& m) {
  const std::vector<std::string>& built_in = find_key_spec("model", "scorer")->choices;
  if (std::find(built_in.begin(), built_in.end(), m.scorer) != built_in.end()) return 0;
  Generator gen(0);
  const std::shared_ptr<Scorer> scorer = make_scorer(
      {.kind = m.scorer, .heads = m.heads, .d_q = m.d_head, .d_k = m.d_head, .settings = m.scorer_settings}, gen);
  double count = 0;
  for (const Tensor& p : scorer->parameters()) count += static_cast<double>(p.numel());
  return count;
}
}  // namespace

double estimated_parameter_count(const ModelConfig& m, const TaskSizes& t) {
  const double d = static_cast<double>(m.d_model), h = static_cast<double>(m.heads);
  const double dh = static_cast<double>(m.d_head), inner = h * dh, ff = static_cast<double>(m.d_ff);
  const double input = t.vocab_size > 0 ? static_cast<double>(t.vocab_size) * d
                                        : (static_cast<double>(t.feature_dim) + 1) * d;
  const double positional = m.positional == PositionKind::learned ? static_cast<double>(t.seq_len) * d : 0;
  double scorer = registered_scorer_parameters(m);
  if (m.scorer == "general") scorer = h * dh * dh;
  if (m.scorer == "additive") {
    const double hidden = static_cast<double>(m.additive_hidden);
    scorer = h * (2 * dh * hidden + hidden);  // query and key weights, v
  }
  if (m.relative_bias == RelativeBiasKind::clipped) scorer += h * (2 * static_cast<double>(m.relative_window) + 1);
  if (m.relative_bias == RelativeBiasKind::t5) scorer += h * static_cast<double>(m.relative_buckets);
  if (m.sink) scorer += h;
  const double gammas = m.sigma_reparam ? 6 : 0;  // σReparam: one per Linear of the block
  const double kv_inner = static_cast<double>(m.kv_heads) * dh;
  const double block = 4 * d + (d * inner + inner) + 2 * (d * kv_inner + kv_inner) + (inner * d + d) + scorer +
                       (d * ff + ff) + (ff * d + d) + gammas;
  return input + positional + static_cast<double>(m.layers) * block + 2 * d +
         (d + 1) * static_cast<double>(t.num_classes);
}

namespace {
// Tensors per parameter held by the optimizer besides the parameter and its gradient.
double optimizer_slots(const OptimizerConfig& o) {
  if (o.name == OptimizerKind::adam || o.name == OptimizerKind::adamw) return o.amsgrad ? 3 : 2;
  if (o.name == OptimizerKind::rmsprop) return 1 + (o.momentum > 0 ? 1 : 0) + (o.centered ? 1 : 0);
  if (o.name == OptimizerKind::sgd) return o.momentum > 0 ? 1 : 0;
  return 1;  // adagrad's running sum
}
}  // namespace

MemoryEstimate estimate_memory(const RunConfig& c, const TaskSizes& t) {
  const ModelConfig& m = c.model;
  const double scalar = sizeof(Scalar), index = sizeof(int64_t);
  const double b = static_cast<double>(c.train.batch_size), n = static_cast<double>(t.seq_len);
  const double d = static_cast<double>(m.d_model), h = static_cast<double>(m.heads);
  const double inner = h * static_cast<double>(m.d_head), ff = static_cast<double>(m.d_ff);
  MemoryEstimate e;
  e.parameters = estimated_parameter_count(m, t) * scalar * (2 + optimizer_slots(c.optimizer));
  // Per block and example: the residual stream, two LayerNorm outputs, attention output
  // and dropout masks (d_model wide each, six), q, k, v and the heads' context (four,
  // heads * d_head wide), two feed-forward activations (d_ff), and per head N x N scores,
  // weights and dropout mask; the additive scorer also keeps its hidden layer, for every
  // query-key pair, before and after tanh.
  double per_position = 6 * d + 4 * inner + 2 * ff + 3 * h * n;
  if (m.scorer == "additive") per_position += 2 * h * n * static_cast<double>(m.additive_hidden);
  if (m.relative_bias != RelativeBiasKind::none) per_position += h * n;
  const double logits = 3 * static_cast<double>(t.num_classes);  // logits, softmax, gradient
  e.activations = b * n * (static_cast<double>(m.layers) * per_position + logits) * scalar;
  const double example = t.feature_dim > 0 ? static_cast<double>(t.feature_dim) * scalar + index : 2 * index;
  e.held_out = static_cast<double>(c.task.eval_batches) * b * n * example;
  return e;
}

std::string largest_memory_key(const RunConfig& config, const TaskSizes& task) {
  const std::vector<std::pair<std::string, std::function<void(RunConfig&, TaskSizes&)>>> keys{
      {"model.d_model", [](RunConfig& c, TaskSizes&) { c.model.d_model = 1; }},
      {"model.heads", [](RunConfig& c, TaskSizes&) { c.model.heads = 1; }},
      {"model.d_head", [](RunConfig& c, TaskSizes&) { c.model.d_head = 1; }},
      {"model.layers", [](RunConfig& c, TaskSizes&) { c.model.layers = 1; }},
      {"model.d_ff", [](RunConfig& c, TaskSizes&) { c.model.d_ff = 1; }},
      {"model.additive_hidden", [](RunConfig& c, TaskSizes&) { c.model.additive_hidden = 1; }},
      {"model.relative_window", [](RunConfig& c, TaskSizes&) { c.model.relative_window = 1; }},
      {"model.relative_buckets", [](RunConfig& c, TaskSizes&) { c.model.relative_buckets = 1; }},
      {"train.batch_size", [](RunConfig& c, TaskSizes&) { c.train.batch_size = 1; }},
      {"task.eval_batches", [](RunConfig& c, TaskSizes&) { c.task.eval_batches = 1; }},
      {"task.seq_len", [](RunConfig&, TaskSizes& t) { t.seq_len = 1; }},
      {"task.vocab", [](RunConfig&, TaskSizes& t) { t.vocab_size = std::min<int64_t>(t.vocab_size, 1); }},
  };
  const double total = estimate_memory(config, task).total();
  std::string best;
  double best_saving = -1;
  for (const auto& [key, shrink] : keys) {
    RunConfig c = config;
    TaskSizes t = task;
    shrink(c, t);
    const double saving = total - estimate_memory(c, t).total();
    if (saving > best_saving) best_saving = saving, best = key;
  }
  return best;
}

double machine_memory_bytes() {
  return static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGE_SIZE));
}

int configure_threads(int64_t threads) {
  if (threads > 0) set_num_threads(static_cast<int>(threads));
  return num_threads();
}

}  // namespace qkv
