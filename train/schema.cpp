#include "train/schema.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <type_traits>

#include "layers/scorer_registry.h"
#include "tasks/pixels.h"
#include "tasks/recall.h"
#include "tasks/sequence_tasks.h"
#include "tasks/task.h"
#include "train/config.h"

// The table below names only the fields each key sets; the rest keep KeySpec's defaults
// on purpose, which -Wextra would otherwise flag on every row.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace qkv {
namespace {
using json = nlohmann::json;

std::string number_text(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.10g", v);
  return buffer;
}

std::string quoted_list(const std::vector<std::string>& values, const std::string& last_join) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += i + 1 == values.size() ? last_join : ", ";
    out += "\"" + values[i] + "\"";
  }
  return out;
}

std::string task_seq_len_default() {
  return "recall: 2 * pairs + 1; copy, reverse, sort: " +
         std::to_string(SequenceOptions{}.seq_len) + "; shift: " +
         std::to_string(ShiftOptions{}.seq_len) + "; pixels: " +
         std::to_string(PixelsOptions{}.seq_len);
}

// The RunConfig field a key sets: (config.*section).*member = value; a choice whose field
// is an enum is parsed through the enum's names, which are the key's choices.
template <class Section, class Field>
std::function<void(RunConfig&, const json&)> field(Section RunConfig::*section, Field Section::*member) {
  return [section, member](RunConfig& c, const json& v) {
    if constexpr (std::is_enum_v<Field>)
      (c.*section).*member = parse_enum<Field>(v.get<std::string>(), "config key");
    else
      (c.*section).*member = v.get<Field>();
  };
}

// model.scorer: a kind's name, or an object {"kind": K, setting: value, ...} whose settings
// resolve_config checks and keeps in ModelConfig::scorer_settings.
void assign_scorer(RunConfig& c, const json& v) { c.model.scorer = (v.is_object() ? v.at("kind") : v).get<std::string>(); }

// model.scale: a number is the factor; "sqrt_dk" and "none" mean what they mean to the
// layers (ScoreScale, layers/scorers.h), for this d_head, so 1/sqrt(d_k) has one
// implementation. resolve_config assigns model.d_head, a derived key, before it.
void assign_scale(RunConfig& c, const json& v) {
  c.model.scale = v.is_number() ? v.get<double>() : parse_score_scale(v.get<std::string>()).value(c.model.d_head);
}

std::vector<KeySpec> build_schema() {
  using T = KeyType;
  const std::vector<std::string> token_tasks{"recall", "copy", "reverse", "shift", "sort"};
  return {
      // ---- model ----
      {.section = "model", .key = "scorer", .type = T::choice, .default_value = "scaled_dot",
       .choices = {"additive", "dot", "general", "scaled_dot", "mup_dot", "qk_norm", "learned_temperature"},
       .registered_scorers = true,
       .doc = "How a query q and a key k are scored: v^T tanh(W [q; k]) (additive, Bahdanau), "
              "q^T k (dot), q^T W k (general, Luong), q^T k * scale (scaled_dot, Transformer), "
              "q^T k / d_head (mup_dot, muP), g q.k / (|q| |k|) with g learned per head from "
              "sqrt(d_head) (qk_norm), tau q^T k with tau learned per head from scale "
              "(learned_temperature), or a kind a program added with register_scorer() "
              "(examples/custom_layer.cpp); a kind that declares settings takes them as "
              "{\"kind\": \"softcap_user\", \"cap\": 5} (--list-keys lists them).",
       .assign = assign_scorer},
      {.section = "model", .key = "scale", .type = T::number_or_choice, .default_value = "sqrt_dk",
       .choices = {"sqrt_dk", "none"}, .min = 0, .min_exclusive = true,
       .only_when = KeyCondition{"scorer", {"scaled_dot", "learned_temperature"}},
       .doc = "Multiplier of the scaled_dot scores, or the temperature learned_temperature "
              "starts from: \"sqrt_dk\" is 1 / sqrt(d_head), \"none\" is 1, a number is used as given.",
       .assign = assign_scale},
      {.section = "model", .key = "additive_hidden", .type = T::integer, .derived_default = "d_head",
       .min = 1, .max = 65536, .only_when = KeyCondition{"scorer", {"additive"}},
       .doc = "Width of the additive scorer's hidden layer (rows of W).",
       .assign = field(&RunConfig::model, &ModelConfig::additive_hidden)},
      {.section = "model", .key = "relative_bias", .type = T::choice, .default_value = "none",
       .choices = enum_names<RelativeBiasKind>(),
       .doc = "Learned bias R_{i-j} added to the scores: none, one per offset clipped to "
              "[-relative_window, relative_window] (Shaw et al.), or T5's log-spaced buckets.",
       .assign = field(&RunConfig::model, &ModelConfig::relative_bias)},
      {.section = "model", .key = "relative_window", .type = T::integer, .default_value = 16,
       .min = 1, .max = 65536, .only_when = KeyCondition{"relative_bias", {"clipped"}},
       .doc = "K: offsets beyond +-K share the bias of +-K.",
       .assign = field(&RunConfig::model, &ModelConfig::relative_window)},
      {.section = "model", .key = "relative_buckets", .type = T::integer, .default_value = 32,
       .min = 4, .max = 65536, .only_when = KeyCondition{"relative_bias", {"t5"}},
       .doc = "Number of T5 buckets (half per direction unless causal).",
       .assign = field(&RunConfig::model, &ModelConfig::relative_buckets)},
      {.section = "model", .key = "relative_max_distance", .type = T::integer, .default_value = 128,
       .min = 1, .only_when = KeyCondition{"relative_bias", {"t5"}},
       .doc = "Offsets at or beyond this share T5's last bucket.",
       .assign = field(&RunConfig::model, &ModelConfig::relative_max_distance)},
      {.section = "model", .key = "positional", .type = T::choice, .default_value = "sinusoidal",
       .choices = enum_names<PositionKind>(),
       .doc = "Position information: none; absolute vectors added to the input, fixed "
              "sine/cosine or a learned table of task.seq_len rows; or, inside every "
              "layer's scorer, rotary q and k (rope, Su et al.) or a per-head linear "
              "distance penalty (alibi, Press et al.).",
       .assign = field(&RunConfig::model, &ModelConfig::positional)},
      {.section = "model", .key = "d_model", .type = T::integer, .default_value = 64, .min = 1, .max = 65536,
       .doc = "Width of the residual stream.",
       .assign = field(&RunConfig::model, &ModelConfig::d_model)},
      {.section = "model", .key = "heads", .type = T::integer, .default_value = 4, .min = 1, .max = 1024,
       .doc = "Attention heads per layer; must divide d_model unless d_head is given.",
       .assign = field(&RunConfig::model, &ModelConfig::heads)},
      {.section = "model", .key = "d_head", .type = T::integer, .derived_default = "d_model / heads",
       .min = 1, .max = 65536, .doc = "d_k: width of each head's queries, keys and values.",
       .assign = field(&RunConfig::model, &ModelConfig::d_head)},
      {.section = "model", .key = "layers", .type = T::integer, .default_value = 2, .min = 1, .max = 1024,
       .doc = "Number of attention + feed-forward blocks.",
       .assign = field(&RunConfig::model, &ModelConfig::layers)},
      {.section = "model", .key = "d_ff", .type = T::integer, .derived_default = "4 * d_model",
       .min = 1, .max = 262144, .doc = "Hidden width of the feed-forward block.",
       .assign = field(&RunConfig::model, &ModelConfig::d_ff)},
      {.section = "model", .key = "dropout", .type = T::number, .default_value = 0.0, .min = 0,
       .max = 1, .max_exclusive = true, .doc = "Dropout probability (attention weights and residual branches).",
       .assign = field(&RunConfig::model, &ModelConfig::dropout)},
      {.section = "model", .key = "activation", .type = T::choice, .default_value = "gelu",
       .choices = enum_names<ActivationKind>(), .doc = "Feed-forward nonlinearity.",
       .assign = field(&RunConfig::model, &ModelConfig::activation)},
      {.section = "model", .key = "causal", .type = T::boolean, .default_value = false,
       .doc = "Mask keys after the query (position j > i).",
       .assign = field(&RunConfig::model, &ModelConfig::causal)},
      {.section = "model", .key = "kv_heads", .type = T::integer, .derived_default = "heads", .min = 1,
       .max = 1024, .doc = "Key/value heads, a divisor of heads: fewer is grouped-query attention "
                           "(Ainslie et al. 2023), 1 multi-query attention (Shazeer 2019).",
       .assign = field(&RunConfig::model, &ModelConfig::kv_heads)},
      {.section = "model", .key = "window", .type = T::integer, .default_value = 0, .min = 0, .max = 1 << 30,
       .doc = "Sliding window: query i sees only keys with |i - j| < window (and j <= i when "
              "causal); 0 means no window.",
       .assign = field(&RunConfig::model, &ModelConfig::window)},
      {.section = "model", .key = "softcap", .type = T::number, .default_value = 0.0, .min = 0,
       .doc = "Logit soft-capping c tanh(s / c) of every score (Gemma 2); 0 means none.",
       .assign = field(&RunConfig::model, &ModelConfig::softcap)},
      {.section = "model", .key = "sink", .type = T::boolean, .default_value = false,
       .doc = "A learned sink logit per head in every softmax (\"off-by-one\" softmax): a "
              "query may give its keys less than weight 1.",
       .assign = field(&RunConfig::model, &ModelConfig::sink)},
      {.section = "model", .key = "normalizer", .type = T::choice, .default_value = "softmax",
       .choices = enum_names<AttentionNormalizer>(),
       .doc = "Attention weights: softmax over the keys, or sigmoid(s - log N) each on its own "
              "(Ramapuram et al. 2024).",
       .assign = field(&RunConfig::model, &ModelConfig::normalizer)},
      {.section = "model", .key = "sigma_reparam", .type = T::boolean, .default_value = false,
       .doc = "σReparam (Zhai et al. 2023) on every attention and feed-forward Linear: W is used as "
              "(gamma / sigma(W)) W, sigma(W) its spectral norm by one power-iteration step per "
              "training forward, gamma learnable and starting at sigma(W).",
       .assign = field(&RunConfig::model, &ModelConfig::sigma_reparam)},
      {.section = "model", .key = "init", .type = T::choice, .default_value = "xavier_uniform",
       .choices = enum_names<Init::Kind>(),
       .doc = "Initialisation of weight matrices (biases start at 0): Glorot's uniform or normal, "
              "He's uniform or normal (gain sqrt(2)), N(0, init_std^2), or zeros (a symmetric start).",
       .assign = field(&RunConfig::model, &ModelConfig::init)},
      {.section = "model", .key = "init_std", .type = T::number, .default_value = 0.02, .min = 0,
       .min_exclusive = true, .only_when = KeyCondition{"init", {"normal"}},
       .doc = "Standard deviation of init \"normal\".",
       .assign = field(&RunConfig::model, &ModelConfig::init_std)},
      // ---- task ----
      {.section = "task", .key = "name", .type = T::choice, .required = true,
       .choices = task_names(), .doc = "Which toy task generates the data (docs/train.md).",
       .assign = field(&RunConfig::task, &TaskConfig::name)},
      {.section = "task", .key = "seq_len", .type = T::integer,
       .derived_default = task_seq_len_default(), .min = 1, .max = 65536,
       .doc = "Positions per example, as the model sees them.",
       .assign = field(&RunConfig::task, &TaskConfig::seq_len)},
      {.section = "task", .key = "vocab", .type = T::integer, .default_value = RecallOptions{}.vocab,
       .min = 1, .max = 1000000, .only_when = KeyCondition{"name", token_tasks},
       .doc = "Token ids, special tokens included (the embedding's rows).",
       .assign = field(&RunConfig::task, &TaskConfig::vocab)},
      {.section = "task", .key = "shift", .type = T::integer, .default_value = ShiftOptions{}.shift,
       .min = 0, .only_when = KeyCondition{"name", {"shift"}},
       .doc = "k in output[i] = input[i - k]; must be below seq_len.",
       .assign = field(&RunConfig::task, &TaskConfig::shift)},
      {.section = "task", .key = "pairs", .type = T::integer, .default_value = RecallOptions{}.pairs,
       .min = 1, .only_when = KeyCondition{"name", {"recall"}},
       .doc = "Key/value pairs before the query.",
       .assign = field(&RunConfig::task, &TaskConfig::pairs)},
      {.section = "task", .key = "image_size", .type = T::integer,
       .default_value = PixelsOptions{}.image_size, .min = 8, .max = 256,
       .only_when = KeyCondition{"name", {"pixels"}}, .doc = "Side of the square image, in pixels.",
       .assign = field(&RunConfig::task, &TaskConfig::image_size)},
      {.section = "task", .key = "shapes", .type = T::integer, .default_value = PixelsOptions{}.shapes,
       .min = 1, .max = 8, .only_when = KeyCondition{"name", {"pixels"}},
       .doc = "Shapes drawn per image (fewer if they do not fit without overlapping).",
       .assign = field(&RunConfig::task, &TaskConfig::shapes)},
      {.section = "task", .key = "eval_seed", .type = T::integer, .default_value = 1234, .min = 0,
       .doc = "Seed of the held-out batches; must differ from train.seed.",
       .assign = field(&RunConfig::task, &TaskConfig::eval_seed)},
      {.section = "task", .key = "eval_batches", .type = T::integer, .default_value = 8, .min = 1, .max = 100000,
       .doc = "Held-out batches (of train.batch_size) per evaluation.",
       .assign = field(&RunConfig::task, &TaskConfig::eval_batches)},
      // ---- optimizer ----
      {.section = "optimizer", .key = "name", .type = T::choice, .default_value = "adam",
       .choices = enum_names<OptimizerKind>(), .doc = "Update rule, with PyTorch's semantics.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::name)},
      {.section = "optimizer", .key = "lr", .type = T::number, .default_value = 1e-3, .min = 0,
       .min_exclusive = true, .doc = "Peak learning rate (the schedule scales it).",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::lr)},
      {.section = "optimizer", .key = "weight_decay", .type = T::number, .default_value = 0.0,
       .min = 0, .doc = "L2 penalty added to the gradient; decoupled (applied to the weights) for adamw.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::weight_decay)},
      {.section = "optimizer", .key = "momentum", .type = T::number, .default_value = 0.0, .min = 0,
       .max = 1, .max_exclusive = true, .only_when = KeyCondition{"name", {"sgd", "rmsprop"}},
       .doc = "Momentum factor.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::momentum)},
      {.section = "optimizer", .key = "nesterov", .type = T::boolean, .default_value = false,
       .only_when = KeyCondition{"name", {"sgd"}},
       .doc = "Nesterov momentum; needs momentum > 0 and dampening 0.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::nesterov)},
      {.section = "optimizer", .key = "dampening", .type = T::number, .default_value = 0.0, .min = 0,
       .max = 1, .only_when = KeyCondition{"name", {"sgd"}}, .doc = "Dampening of the momentum.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::dampening)},
      {.section = "optimizer", .key = "beta1", .type = T::number, .default_value = 0.9, .min = 0,
       .max = 1, .max_exclusive = true, .only_when = KeyCondition{"name", {"adam", "adamw"}},
       .doc = "Decay of the first-moment average.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::beta1)},
      {.section = "optimizer", .key = "beta2", .type = T::number, .default_value = 0.999, .min = 0,
       .max = 1, .max_exclusive = true, .only_when = KeyCondition{"name", {"adam", "adamw"}},
       .doc = "Decay of the second-moment average.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::beta2)},
      {.section = "optimizer", .key = "eps", .type = T::number, .default_value = 1e-8, .min = 0,
       .min_exclusive = true,
       .only_when = KeyCondition{"name", {"adam", "adamw", "rmsprop", "adagrad"}},
       .doc = "Added to the denominator for numerical stability.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::eps)},
      {.section = "optimizer", .key = "amsgrad", .type = T::boolean, .default_value = false,
       .only_when = KeyCondition{"name", {"adam", "adamw"}},
       .doc = "Use the running maximum of the second moment.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::amsgrad)},
      {.section = "optimizer", .key = "alpha", .type = T::number, .default_value = 0.99, .min = 0,
       .max = 1, .max_exclusive = true, .only_when = KeyCondition{"name", {"rmsprop"}},
       .doc = "Decay of RMSprop's squared-gradient average.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::alpha)},
      {.section = "optimizer", .key = "centered", .type = T::boolean, .default_value = false,
       .only_when = KeyCondition{"name", {"rmsprop"}},
       .doc = "Normalise by the estimated variance instead of the second moment.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::centered)},
      {.section = "optimizer", .key = "no_decay_on_bias_and_norm", .type = T::boolean,
       .default_value = true,
       .doc = "Exempt biases and normalisation gains from weight_decay.",
       .assign = field(&RunConfig::optimizer, &OptimizerConfig::no_decay_on_bias_and_norm)},
      // ---- schedule ----
      {.section = "schedule", .key = "name", .type = T::choice, .default_value = "constant",
       .choices = enum_names<ScheduleKind>(),
       .doc = "Learning-rate schedule over train.steps.",
       .assign = field(&RunConfig::schedule, &ScheduleConfig::name)},
      {.section = "schedule", .key = "step_size", .type = T::integer, .default_value = 1000,
       .min = 1, .only_when = KeyCondition{"name", {"step"}},
       .doc = "Steps between decays by gamma.",
       .assign = field(&RunConfig::schedule, &ScheduleConfig::step_size)},
      {.section = "schedule", .key = "gamma", .type = T::number,
       .derived_default = "step: 0.1; exponential: 0.999", .min = 0, .min_exclusive = true,
       .max = 1, .only_when = KeyCondition{"name", {"step", "exponential"}},
       .doc = "Decay factor: per step_size steps (step) or per step (exponential).",
       .assign = field(&RunConfig::schedule, &ScheduleConfig::gamma)},
      {.section = "schedule", .key = "warmup_steps", .type = T::integer, .default_value = 100,
       .min = 0, .only_when = KeyCondition{"name", {"warmup_cosine", "warmup_linear"}},
       .doc = "Steps of linear warmup from 0 to lr; at most train.steps.",
       .assign = field(&RunConfig::schedule, &ScheduleConfig::warmup_steps)},
      {.section = "schedule", .key = "min_lr", .type = T::number, .default_value = 0.0, .min = 0,
       .only_when = KeyCondition{"name", {"cosine", "warmup_cosine", "warmup_linear"}},
       .doc = "Learning rate reached at the last step; at most optimizer.lr.",
       .assign = field(&RunConfig::schedule, &ScheduleConfig::min_lr)},
      // ---- train ----
      {.section = "train", .key = "steps", .type = T::integer, .default_value = 1000, .min = 1,
       .doc = "Optimiser steps.",
       .assign = field(&RunConfig::train, &TrainConfig::steps)},
      {.section = "train", .key = "batch_size", .type = T::integer, .default_value = 32, .min = 1, .max = 1000000,
       .doc = "Examples per step.",
       .assign = field(&RunConfig::train, &TrainConfig::batch_size)},
      {.section = "train", .key = "seed", .type = T::integer, .default_value = 0, .min = 0,
       .doc = "Seed of initialisation, dropout and training batches.",
       .assign = field(&RunConfig::train, &TrainConfig::seed)},
      {.section = "train", .key = "threads", .type = T::integer, .default_value = 0, .min = 0, .max = 256,
       .doc = "Worker threads; 0 uses every core OpenMP reports. More threads than cores only slow a step.",
       .assign = field(&RunConfig::train, &TrainConfig::threads)},
      {.section = "train", .key = "precision", .type = T::choice, .default_value = "float32",
       .choices = enum_names<Precision>(),
       .doc = "Matrix products of the training step (forward and backward): float32, or bf16 operands with float32 "
              "sums where this CPU runs them faster (measured at start; docs/precision.md). Weights, optimiser state, softmax, loss and evaluation stay float32.",
       .assign = field(&RunConfig::train, &TrainConfig::precision)},
      {.section = "train", .key = "eval_interval", .type = T::integer, .default_value = 100,
       .min = 0, .doc = "Steps between held-out evaluations; 0 evaluates only at the end.",
       .assign = field(&RunConfig::train, &TrainConfig::eval_interval)},
      {.section = "train", .key = "log_interval", .type = T::integer, .default_value = 10, .min = 1,
       .doc = "Steps between training-loss log lines.",
       .assign = field(&RunConfig::train, &TrainConfig::log_interval)},
      {.section = "train", .key = "checkpoint_interval", .type = T::integer, .default_value = 0,
       .min = 0, .doc = "Steps between checkpoints; 0 writes none during training.",
       .assign = field(&RunConfig::train, &TrainConfig::checkpoint_interval)},
      {.section = "train", .key = "out_dir", .type = T::string, .default_value = "runs/default",
       .doc = "Run folder: resolved config, logs, checkpoints.",
       .assign = field(&RunConfig::train, &TrainConfig::out_dir)},
      {.section = "train", .key = "grad_clip", .type = T::number, .default_value = 0.0, .min = 0,
       .doc = "Largest global L2 norm of the gradients; 0 disables clipping.",
       .assign = field(&RunConfig::train, &TrainConfig::grad_clip)},
      {.section = "train", .key = "init_from", .type = T::string, .derived_default = "none",
       .doc = "Warm start: a run folder whose checkpoint's weights replace the fresh initialisation "
              "(the model keys must match). The optimiser, schedule and step start afresh, unlike "
              "--resume, which continues a run exactly.",
       .assign = field(&RunConfig::train, &TrainConfig::init_from)},
      {.section = "train", .key = "plots", .type = T::boolean, .default_value = true,
       .doc = "Render plots/metrics.png (and plots/probes.png) in the run folder at the end, "
              "through gnuplot when it is installed.",
       .assign = field(&RunConfig::train, &TrainConfig::plots)},
      // ---- probes ----
      {.section = "probes", .key = "interval", .type = T::integer, .default_value = 0, .min = 0,
       .doc = "Steps between probes written to probes.jsonl: per layer and head attention entropy, "
              "softmax Jacobian norm, dead-row fraction and max weight; per parameter gradient norm "
              "and update/weight ratio. 0 records none. The fused attention kernel gives these per "
              "row, so probe steps store no attention weights (the additive scorer's excepted). "
              "Softmax attention only: refused with model.normalizer \"sigmoid\".",
       .assign = field(&RunConfig::probes, &ProbeConfig::interval)},
  };
}
}  // namespace

std::vector<std::string> KeySpec::allowed_choices() const {
  std::vector<std::string> out = choices;
  if (registered_scorers)
    for (const std::string& kind : scorer_kinds())
      if (std::find(out.begin(), out.end(), kind) == out.end()) out.push_back(kind);
  return out;
}

std::string KeySpec::expected() const {
  std::string range;
  if (min && max)
    range = std::string(min_exclusive ? "(" : "[") + number_text(*min) + ", " + number_text(*max) +
            (max_exclusive ? ")" : "]");
  else if (min)
    range = std::string(min_exclusive ? "> " : ">= ") + number_text(*min);
  else if (max)
    range = std::string(max_exclusive ? "< " : "<= ") + number_text(*max);
  const std::string in = range.empty() ? "" : range[0] == '[' || range[0] == '(' ? " in " : " ";
  switch (type) {
    case KeyType::integer: return "an integer" + in + range;
    case KeyType::number: return "a number" + in + range;
    case KeyType::boolean: return "true or false";
    case KeyType::string: return "a non-empty string";
    case KeyType::choice:
      return "one of " + quoted_list(allowed_choices(), ", ") +
             (registered_scorers ? " (the kinds this program has; a program adds its own with register_scorer())" : "");
    case KeyType::number_or_choice: return quoted_list(allowed_choices(), ", ") + " or a number" + in + range;
  }
  return "";
}

std::string KeySpec::default_text() const {
  if (required) return "required";
  if (!derived_default.empty()) return derived_default;
  return default_value.dump();
}

const std::vector<std::string>& config_sections() {
  static const std::vector<std::string> sections{"model", "task", "optimizer", "schedule", "train", "probes"};
  return sections;
}

const std::vector<KeySpec>& config_schema() {
  static const std::vector<KeySpec> schema = build_schema();
  return schema;
}

const KeySpec* find_key_spec(const std::string& section, const std::string& key) {
  for (const KeySpec& spec : config_schema())
    if (spec.section == section && spec.key == key) return &spec;
  return nullptr;
}

KeySpec scorer_setting_spec(const std::string& kind, const ScorerSetting& setting) {
  KeySpec spec{.section = "model", .key = "scorer." + setting.name, .default_value = setting.default_value,
               .min = setting.min, .max = setting.max, .only_when = KeyCondition{"scorer", {kind}},
               .doc = setting.doc};
  switch (setting.type) {
    case ScorerSetting::Type::integer: spec.type = KeyType::integer; break;
    case ScorerSetting::Type::number: spec.type = KeyType::number; break;
    case ScorerSetting::Type::boolean: spec.type = KeyType::boolean; break;
    case ScorerSetting::Type::string: spec.type = KeyType::string; break;
  }
  return spec;
}

std::string config_schema_markdown() {
  std::ostringstream out;
  out << "Generated from the schema in train/schema.cpp by `config_schema_markdown()`; the "
         "train tests fail if this table differs. Regenerate it with\n"
         "`QKV_UPDATE_DOCS=1 build/tests/train_tests \"[docs]\"`.\n";
  for (const std::string& section : config_sections()) {
    out << "\n#### " << section << "\n\n"
        << "| Key | Default | Expected | Applies when | Meaning |\n"
        << "|---|---|---|---|---|\n";
    for (const KeySpec& spec : config_schema()) {
      if (spec.section != section) continue;
      std::string when = "always";
      if (spec.only_when)
        when = spec.section + "." + spec.only_when->key + " is " +
               quoted_list(spec.only_when->values, " or ");
      // The table documents the built-in kinds, whatever this process registered.
      std::string expected = spec.registered_scorers
                                 ? "one of " + quoted_list(spec.choices, ", ") + " or a registered kind"
                                 : spec.expected();
      // A literal | would end the markdown cell.
      for (std::string* cell : {&expected, &when})
        for (size_t p = cell->find('|'); p != std::string::npos; p = cell->find('|', p + 2))
          cell->replace(p, 1, "\\|");
      out << "| `" << spec.path() << "` | " << spec.default_text() << " | " << expected << " | "
          << when << " | " << spec.doc << " |\n";
    }
  }
  return out.str();
}

std::string config_schema_text() {
  std::ostringstream out;
  const auto line = [&](const KeySpec& spec) {
    out << spec.path() << "  (" << spec.expected() << "; default " << spec.default_text();
    if (spec.only_when)
      out << "; only when " << spec.section << "." << spec.only_when->key << " is "
          << quoted_list(spec.only_when->values, " or ");
    out << ")\n    " << spec.doc << "\n";
  };
  for (const KeySpec& spec : config_schema()) {
    line(spec);
    if (!spec.registered_scorers) continue;
    for (const std::string& kind : scorer_kinds())
      for (const ScorerSetting& setting : scorer_settings(kind)) {
        line(scorer_setting_spec(kind, setting));
        out << "    Given as model.scorer = {\"kind\": \"" << kind << "\", \"" << setting.name << "\": ...}.\n";
      }
  }
  return out.str();
}

}  // namespace qkv
