// Run configs: a JSON file with sections model, task, optimizer, schedule and train,
// plus command-line overrides (--set section.key=value). Every key, its default and its
// allowed values live in one schema table (train/schema.h, rendered in
// docs/config_keys.md). load_config validates everything before any work starts and
// returns both a typed RunConfig and the full resolved JSON (every default filled in) to
// write into the run folder.
//
// Problems are collected, not stopped at: a ConfigError lists every problem found, one
// per line, each naming its source (the file, or `command line (--set ...)`), the JSON
// path, what was expected and what was found. Checks that relate two keys run only when
// both keys are valid on their own.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/named_enum.h"
#include "core/ops.h"
#include "core/precision.h"
#include "layers/activation.h"
#include "layers/init.h"
#include "layers/positional.h"
#include "layers/relative_bias.h"
#include "tasks/task.h"

namespace qkv {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<std::string> problems);
  const std::vector<std::string>& problems() const { return problems_; }

 private:
  std::vector<std::string> problems_;
};

enum class OptimizerKind { sgd, adam, adamw, rmsprop, adagrad };
template <>
struct EnumNames<OptimizerKind> {
  static constexpr std::array<std::pair<OptimizerKind, std::string_view>, 5> table{
      {{OptimizerKind::sgd, "sgd"},
       {OptimizerKind::adam, "adam"},
       {OptimizerKind::adamw, "adamw"},
       {OptimizerKind::rmsprop, "rmsprop"},
       {OptimizerKind::adagrad, "adagrad"}}};
};

enum class ScheduleKind { constant, step, exponential, cosine, warmup_cosine, warmup_linear };
template <>
struct EnumNames<ScheduleKind> {
  static constexpr std::array<std::pair<ScheduleKind, std::string_view>, 6> table{
      {{ScheduleKind::constant, "constant"},
       {ScheduleKind::step, "step"},
       {ScheduleKind::exponential, "exponential"},
       {ScheduleKind::cosine, "cosine"},
       {ScheduleKind::warmup_cosine, "warmup_cosine"},
       {ScheduleKind::warmup_linear, "warmup_linear"}}};
};

// Choice-valued keys arrive parsed: each is an enum whose EnumNames table gives the
// schema its allowed spellings (enum_name() prints one). Two stay strings, because the set
// of their values is open or owned elsewhere: the scorer kind (a program may register its
// own) and the task name (make_task's to interpret). Keys that do not apply to the chosen
// scorer/optimizer/schedule/task hold their schema default (or 0 when derived) and are
// absent from RunConfig::resolved.
struct ModelConfig {
  std::string scorer;             // a kind of scorer_kinds(): built in or registered
  nlohmann::json scorer_settings = nlohmann::json::object();  // the kind's registered settings, all filled in
  double scale = 1;               // multiplier of scaled_dot scores, resolved (sqrt_dk -> 1/sqrt(d_head), as ScoreScale computes it)
  int64_t additive_hidden = 0;    // additive scorer's hidden width; 0 unless scorer == additive
  RelativeBiasKind relative_bias = RelativeBiasKind::none;
  int64_t relative_window = 0;    // clipped: K
  int64_t relative_buckets = 0;   // t5
  int64_t relative_max_distance = 0;  // t5
  PositionKind positional = PositionKind::sinusoidal;
  int64_t d_model = 0;
  int64_t heads = 0;
  int64_t d_head = 0;             // d_k per head
  int64_t layers = 0;
  int64_t d_ff = 0;
  double dropout = 0;
  ActivationKind activation = ActivationKind::gelu;
  bool causal = false;
  int64_t kv_heads = 0;           // key/value heads (heads unless grouped-query)
  int64_t window = 0;             // sliding window; 0: none
  double softcap = 0;             // c of c tanh(s / c); 0: none
  bool sink = false;              // a learned sink logit per head
  AttentionNormalizer normalizer = AttentionNormalizer::softmax;
  bool sigma_reparam = false;     // σReparam on the attention and feed-forward Linears
  Init::Kind init = Init::Kind::xavier_uniform;
  double init_std = 0;            // for init == normal
};

struct TaskConfig {
  std::string name;               // recall | copy | reverse | shift | sort | pixels
  int64_t seq_len = 0;            // resolved: the task's own default when not given
  int64_t vocab = 0;              // token tasks
  int64_t shift = 0;              // shift
  int64_t pairs = 0;              // recall
  int64_t image_size = 0;         // pixels
  int64_t shapes = 0;             // pixels
  uint64_t eval_seed = 0;
  int64_t eval_batches = 0;
  nlohmann::json options;         // the options make_task takes for this task (resolved)
};

struct OptimizerConfig {
  OptimizerKind name = OptimizerKind::adam;
  double lr = 0;
  double weight_decay = 0;
  double momentum = 0;            // sgd, rmsprop
  bool nesterov = false;          // sgd
  double dampening = 0;           // sgd
  double beta1 = 0;               // adam, adamw
  double beta2 = 0;               // adam, adamw
  double eps = 0;                 // adam, adamw, rmsprop, adagrad
  bool amsgrad = false;           // adam, adamw
  double alpha = 0;               // rmsprop
  bool centered = false;          // rmsprop
  bool no_decay_on_bias_and_norm = true;
};

struct ScheduleConfig {
  ScheduleKind name = ScheduleKind::constant;
  int64_t step_size = 0;          // step
  double gamma = 0;               // step, exponential
  int64_t warmup_steps = 0;       // warmup_cosine, warmup_linear
  double min_lr = 0;              // cosine, warmup_cosine, warmup_linear
};

struct TrainConfig {
  int64_t steps = 0;
  int64_t batch_size = 0;
  uint64_t seed = 0;
  int64_t threads = 0;            // 0: every core OpenMP reports
  Precision precision = Precision::float32;  // of the step's matrix products
  int64_t eval_interval = 0;      // 0: only at the end
  int64_t log_interval = 0;
  int64_t checkpoint_interval = 0;  // 0: none during training
  std::string out_dir;
  double grad_clip = 0;           // 0: off
  std::string init_from;          // a run folder whose weights start this run; empty: none
  bool plots = true;              // plots/*.png of the metrics at the end of the run
};

struct ProbeConfig {
  int64_t interval = 0;           // steps between rows of probes.jsonl; 0: none
};

struct RunConfig {
  ModelConfig model;
  TaskConfig task;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  TrainConfig train;
  ProbeConfig probes;
  nlohmann::json resolved;  // every applicable key with its value, defaults filled in
};

// Reads, overrides and validates a config file. overrides are `section.key=value` (what
// follows --set); a value is parsed as JSON when it parses (3e-4, true, "text"),
// otherwise taken as a string (additive). Throws ConfigError.
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});

// The same from JSON text; `source` names it in messages (e.g. the file name).
RunConfig parse_config(const std::string& text, const std::string& source,
                       const std::vector<std::string>& overrides = {});

// The same from a JSON value already in memory.
RunConfig resolve_config(const nlohmann::json& config, const std::string& source,
                         const std::vector<std::string>& overrides = {});

// The `--set` arguments of a command line: `--set k=v` and `--set=k=v`, in order. The
// other arguments are left to the caller; a --set with no value throws ConfigError.
std::vector<std::string> set_arguments(int argc, const char* const* argv);

// Sets train.out_dir (RunConfig and resolved) from a command-line option such as the
// train program's --out, which messages name. Throws ConfigError for an empty folder
// name or one that is not UTF-8 (the resolved config, which holds it, is JSON).
void set_out_dir(RunConfig& config, const std::string& dir, const std::string& option);

// The task a resolved config describes.
std::unique_ptr<Task> make_task(const TaskConfig& config);

// Levenshtein distance, for "did you mean" suggestions.
size_t edit_distance(const std::string& a, const std::string& b);
// The candidate nearest to `word` when it is near enough to be a typo of it; else empty.
std::string closest(const std::string& word, const std::vector<std::string>& candidates);

// Byte offset (0-based) in text -> 1-based line and column.
struct TextPosition {
  int64_t line = 1;
  int64_t column = 1;
};
TextPosition text_position(const std::string& text, size_t offset);

}  // namespace qkv
