#include "train/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include "core/autograd.h"
#include "core/ops/gemm_dispatch.h"
#include "core/precision.h"
#include "core/ops.h"
#include "dist/communicator.h"
#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "train/metrics.h"
#include "optim/clip.h"
#include "train/build.h"
#include "train/schema.h"
#include "train/run_plots.h"
#include "train/stop.h"

namespace qkv {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
// The step's loss and accuracy over the whole batch, from each rank's figures over its
// share (`local_accuracy` counts this rank's rows). It lives here, not in dist/, so that
// dist/ knows nothing of what the trainer measures.
void combine_step_metrics(StepMetrics& m, const Accuracy& local_accuracy, const dist::BatchShare& share) {
  // Loss: a mean over scored targets, so weighted like the gradients.
  double sums[3] = {m.loss * share.weight, static_cast<double>(local_accuracy.correct),
                    static_cast<double>(local_accuracy.scored)};
  dist::allreduce_sum(sums, 3);
  m.loss = sums[0];
  m.accuracy = Accuracy{.correct = static_cast<int64_t>(sums[1]), .scored = static_cast<int64_t>(sums[2])}.value();
}

std::string short_dump(const json& value) {
  std::string text = value.dump();
  return text.size() > 200 ? text.substr(0, 197) + "..." : text;
}

// More threads than cores is allowed (a run keeps its thread count to resume bit for
// bit elsewhere) but slows every parallel region: 256 threads on 2 cores made two steps
// of the default model take 16 s instead of a fraction of one.
std::string oversubscribed_note(int threads) {
  const unsigned cores = std::thread::hardware_concurrency();
  if (cores == 0 || static_cast<unsigned>(threads) <= cores) return "";
  return " (more than this machine's " + std::to_string(cores) + " cores: every step runs slower)";
}

// The other ranks of a data-parallel run train silently: rank 0 speaks and writes for all.
std::ostream& discarded_output() {
  static std::ostream sink(nullptr);
  return sink;
}

std::string signal_name(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return "signal " + std::to_string(signal);
}

std::string fixed(double x, int digits) {
  std::ostringstream s;
  s.precision(digits);
  s << std::fixed << x;
  return s.str();
}

// What train.precision = "bf16" does on this CPU, with the rates that decided it.
std::string bf16_note() {
  const kernels::Bf16Rates& rates = kernels::measured_bf16_rates();
  const std::string measured = "bf16 products measured at " + fixed(rates.bf16_gflops, 0) + " GFLOP/s against float32's " +
                               fixed(rates.float32_gflops, 0);
  if (kernels::bf16_pays()) return "precision: bf16 (" + measured + ")";
  if (rates.pays()) return "precision: bf16 asked, float32 run: another rank measured bf16 slower (here " + measured + ")";
  return "precision: bf16 asked, float32 run: on this CPU " + measured + ", so products stay float32";
}

void collect_dropouts(Module& module, std::vector<Dropout*>& out) {
  if (auto* d = dynamic_cast<Dropout*>(&module); d && d->p() > 0) out.push_back(d);
  for (auto& [name, child] : module.children()) collect_dropouts(*child, out);
}

// Keys a resumed run may change without changing what it computes.
bool may_change_on_resume(const std::string& section, const std::string& key) {
  // Probes and plots only observe; init_from only mattered at the run's first step.
  if (section == "probes") return true;
  return section == "train" &&
         (key == "steps" || key == "log_interval" || key == "eval_interval" || key == "checkpoint_interval" ||
          key == "threads" || key == "out_dir" || key == "plots" || key == "init_from");
}

// Everything a run writes into its folder: an overwritten run leaves none of it behind, or
// its probes and plots would pass for the new run's (plot_runs reads whatever is there).
void remove_run_outputs(const std::string& run_dir) {
  for (const char* name : {"checkpoint.safetensors", "metrics.jsonl", "probes.jsonl", "plots", "inspect"})
    fs::remove_all(fs::path(run_dir) / name);
}
}  // namespace

NonFiniteError::NonFiniteError(int64_t step, std::string parameter, const std::string& message)
    : std::runtime_error(message), step_(step), parameter_(std::move(parameter)) {}

std::string run_config_path(const std::string& run_dir) { return (fs::path(run_dir) / "config.json").string(); }
std::string run_checkpoint_path(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoint.safetensors").string();
}

RunConfig load_run_config(const std::string& run_dir, const std::vector<std::string>& overrides,
                          const std::string& option) {
  if (!fs::is_directory(run_dir)) throw std::runtime_error(option + " " + run_dir + ": no such run folder");
  const std::string path = run_config_path(run_dir);
  if (!fs::exists(path))
    throw std::runtime_error(option + " " + run_dir + ": " + path + " is missing; is this a run folder?");
  RunConfig config = load_config(path, overrides);
  // The folder is where the run lives now, even if it was moved since.
  set_out_dir(config, run_dir, option);
  return config;
}

EvalResult evaluate_model(SequenceModel& model, const std::vector<Batch>& batches) {
  NoGradGuard no_grad;
  model.eval();
  double loss_sum = 0;
  Accuracy total;
  // On several ranks each evaluates every size()-th batch, and the sums are added up.
  for (size_t i = static_cast<size_t>(dist::rank()); i < batches.size(); i += static_cast<size_t>(dist::size())) {
    const Batch& batch = batches[i];
    const Tensor logits = (batch.features.defined() ? model.forward(batch.features) : model.forward(batch.tokens)).logits;
    const Accuracy a = count_correct(logits, batch.targets, kIgnore);
    loss_sum += static_cast<double>(cross_entropy(logits, batch.targets, kIgnore).item()) * a.scored;
    total.correct += a.correct;
    total.scored += a.scored;
  }
  if (dist::size() > 1) {
    double sums[3] = {loss_sum, static_cast<double>(total.correct), static_cast<double>(total.scored)};
    dist::allreduce_sum(sums, 3);
    loss_sum = sums[0];
    total = {.correct = static_cast<int64_t>(sums[1]), .scored = static_cast<int64_t>(sums[2])};
  }
  model.train();
  return {.loss = total.scored ? loss_sum / total.scored : 0.0, .accuracy = total.value()};
}

std::shared_ptr<SequenceModel> load_trained_model(const std::string& run_dir, const RunConfig& config,
                                                  const Task& task) {
  const std::string path = run_checkpoint_path(run_dir);
  if (!fs::exists(path)) throw std::runtime_error(run_dir + ": no checkpoint.safetensors in it; is this a run folder?");
  Generator gen(config.train.seed);
  std::shared_ptr<SequenceModel> model = build_model(config.model, task, gen);
  TrainingState state{.model = model.get()};
  load_checkpoint(path, state);
  return model;
}

Trainer::Trainer(RunConfig config, TrainerOptions options)
    : config_(std::move(config)), options_(options), run_dir_(config_.train.out_dir), gen_(config_.train.seed) {
  if (!dist::is_root()) options_.log = &discarded_output();
  std::ostream& log = *options_.log;
  threads_ = configure_threads(config_.train.threads);

  // Build: task, model, optimiser, schedule, held-out set.
  task_ = make_task(config_.task);
  model_ = build_model(config_.model, *task_, gen_);
  for (auto& [name, p] : model_->named_parameters()) {
    parameter_names_.push_back(name);
    parameters_.push_back(p);
  }
  collect_dropouts(*model_, dropouts_);
  optimizer_ = build_optimizer(config_.optimizer, *model_);
  schedule_ = build_schedule(config_.schedule, config_.train.steps);
  held_out_ = held_out_batches(*task_, config_.task.eval_batches, config_.train.batch_size, config_.task.eval_seed);
  if (dist::size() > 1) {
    dist::share_of_batch(held_out_.front(), dist::rank(), dist::size());  // refuses more ranks than rows
    gradient_reducer_ = std::make_unique<dist::GradientReducer>(parameters_);
    // bf16 runs where it measured faster (core/ops/gemm_dispatch.h), and then on every rank
    // or none: ranks rounding differently would sum unlike gradients, and which one ran
    // what would depend on each rank's timing.
    if (config_.train.precision == Precision::bf16)
      kernels::set_bf16_pays(dist::allreduce_max(kernels::bf16_pays() ? 0 : 1) == 0);
  }

  // The run folder.
  if (!dist::is_root()) {
    if (options_.resume) restore_checkpoint();
  } else if (!options_.resume) {
    for (const char* name : {"checkpoint.safetensors", "metrics.jsonl"})
      if (fs::exists(fs::path(run_dir_) / name) && !options_.overwrite)
        throw std::runtime_error("run folder " + run_dir_ + " already holds a run (" + name +
                                 "); continue it with " + options_.program + " --resume " + run_dir_ +
                                 ", choose another folder with --out, or pass --overwrite");
    // The weights first: init_from may name this very folder, and a source refused must
    // leave the run in it as it was (and no new folder behind).
    if (!config_.train.init_from.empty()) warm_start();
    fs::create_directories(run_dir_);
    if (options_.overwrite) remove_run_outputs(run_dir_);
  } else {
    remove_stale_temp_files();
    restore_checkpoint();
  }
  if (dist::is_root()) {
    write_file_atomically(run_config_path(run_dir_), config_.resolved.dump(2) + "\n");
    const std::optional<int64_t> resume_step = options_.resume ? std::optional<int64_t>(step_) : std::nullopt;
    metrics_ = std::make_unique<MetricsLog>(run_dir_, resume_step);
    if (config_.probes.interval > 0) probes_ = std::make_unique<ProbeLog>(run_dir_, parameter_names_, resume_step);
  }

  const ModelConfig& m = config_.model;
  log << "task " << task_->name() << ": seq_len " << task_->seq_len() << ", " << task_->num_classes()
      << " classes, chance accuracy " << fixed(task_->chance_accuracy(), 3) << "\n"
      << "model: " << m.scorer << " scorer"
      << (m.relative_bias == RelativeBiasKind::none ? "" : " + " + enum_name(m.relative_bias) + " relative bias") << ", " << m.layers
      << " layers, d_model " << m.d_model << ", " << m.heads << " heads, " << model_->parameter_count()
      << " parameters\n"
      << "optimizer " << enum_name(config_.optimizer.name) << " (lr " << config_.optimizer.lr << "), schedule "
      << enum_name(config_.schedule.name) << ", " << config_.train.steps << " steps of batch " << config_.train.batch_size
      << "\n"
      << "threads: " << threads_ << oversubscribed_note(threads_)
      << (dist::size() > 1 ? " per rank; " + std::to_string(dist::size()) + " ranks, data parallel" : "") << "\n"
      << "run folder: " << run_dir_ << "\n";
  if (config_.train.precision == Precision::bf16) log << bf16_note() << "\n";
  if (options_.resume) log << "resuming at step " << step_ << " of " << config_.train.steps << "\n";
  if (!options_.resume && !config_.train.init_from.empty())
    log << "weights from " << run_checkpoint_path(config_.train.init_from) << " (train.init_from)\n";
  log << std::flush;
}

// train.init_from: the weights of another run; everything else starts afresh.
void Trainer::warm_start() {
  const std::string& from = config_.train.init_from;
  const std::string path = run_checkpoint_path(from);
  if (!fs::exists(path))
    throw std::runtime_error("train.init_from " + from + ": " + path + " is missing; is this a run folder?");
  TrainingState state{.model = model_.get()};
  try {
    load_checkpoint(path, state);
  } catch (const std::exception& e) {
    throw std::runtime_error("train.init_from " + from + ": " + e.what() +
                             " (the model keys of both runs must give the same parameters)");
  }
}

// A save interrupted by a crash leaves its temporary file (write_file_atomically's
// pattern) beside the file it was to replace; nothing else will ever remove it.
void Trainer::remove_stale_temp_files() {
  for (const auto& entry : fs::directory_iterator(run_dir_)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || !is_atomic_write_temp(name)) continue;
    fs::remove(entry.path());
    *options_.log << "removed " << entry.path().string() << ", left by a save that did not finish\n";
  }
}

void Trainer::restore_checkpoint() {
  const std::string path = run_checkpoint_path(run_dir_);
  if (!fs::exists(path))
    throw std::runtime_error("--resume " + run_dir_ + ": no checkpoint.safetensors in it (the run saved none "
                             "yet); start it again instead");
  const CheckpointInfo saved = read_checkpoint_info(path);
  const auto refuse = [&](const std::string& key, const std::string& problem) {
    throw CheckpointError("checkpoint '" + path + "': __metadata__ '" + key + "' " + problem);
  };
  const json& saved_config = saved.config;
  if (!saved_config.is_object())
    refuse("config", "must be a run config (a JSON object of sections), found " + std::string(saved_config.type_name()));
  for (const auto& [section, value] : saved_config.items())
    if (!value.is_object())
      refuse("config", "section '" + section + "' must be an object, found " + std::string(value.type_name()));
  const json saved_steps = saved_config.value("train", json::object()).value("steps", json());
  if (!saved_steps.is_number_integer() || saved_steps.get<int64_t>() < 1)
    refuse("config", "must hold train.steps, an integer >= 1, found " + (saved_steps.is_null() ? "nothing" : saved_steps.dump()));
  if (!saved.schedule) refuse("schedule", "is missing; the trainer saves its schedule in every checkpoint");

  // The saved run must be this run, but for keys that do not change what it computes.
  std::vector<std::string> changed;
  std::vector<std::string> sections = config_sections();
  for (const auto& [section, unused] : saved_config.items())
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) sections.push_back(section);
  for (const std::string& section : sections) {
    const json a = saved_config.value(section, json::object()), b = config_.resolved.value(section, json::object());
    json keys = a;
    keys.update(b);
    for (const auto& [key, unused] : keys.items())
      if (a.value(key, json()) != b.value(key, json()) && !may_change_on_resume(section, key))
        changed.push_back(section + "." + key + " (was " + a.value(key, json()).dump() + ", now " +
                          b.value(key, json()).dump() + ")");
  }
  if (!changed.empty()) {
    std::string list;
    for (const std::string& c : changed) list += "\n  " + c;
    throw std::runtime_error("--resume " + run_dir_ +
                             ": only train.steps, the train intervals, threads, out_dir, plots and init_from, and "
                             "the probes, may change on resume, but these differ from the checkpoint:" + list);
  }
  // The saved schedule must be this config's over the saved train.steps; a schedule that
  // spans the run (cosine, warmup_*) then changes only if train.steps did.
  const json expected = build_schedule(config_.schedule, saved_steps.get<int64_t>())->to_json();
  if (*saved.schedule != expected)
    refuse("schedule", "is " + short_dump(*saved.schedule) + ", but the run's config (over its train.steps " +
                           saved_steps.dump() + ") gives " + short_dump(expected));
  if (expected != schedule_->to_json())
    *options_.log << "note: train.steps changed from " << saved_steps << " to " << config_.train.steps << ", so the "
                  << enum_name(config_.schedule.name) << " schedule now spans the new length\n";
  // The schedule was checked above, against the saved length rather than the new one.
  TrainingState state{.model = model_.get(), .optimizer = optimizer_.get(), .generator = &gen_, .schedule = nullptr};
  load_checkpoint(path, state);
  step_ = state.step;
}

void Trainer::save_checkpoint() {
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const Tensor& p = parameters_[i];
    for (int64_t k = 0; k < p.numel(); ++k)
      if (!std::isfinite(p.data()[k]))
        throw NonFiniteError(step_, parameter_names_[i],
                             "step " + std::to_string(step_) + ": parameter " + parameter_names_[i] + " is not finite; " +
                                 last_checkpoint_note());
  }
  if (gradient_reducer_ && !dist::replicas_agree(parameters_))
    throw std::runtime_error("step " + std::to_string(step_) + ": the ranks' models differ (MPI's allreduce gave "
                             "them sums that differ in the last bits); " + last_checkpoint_note());
  if (!dist::is_root()) return;
  qkv::save_checkpoint(run_checkpoint_path(run_dir_),
                       TrainingState{.model = model_.get(), .optimizer = optimizer_.get(), .generator = &gen_,
                                     .schedule = schedule_.get(), .step = step_, .config = config_.resolved});
}

std::string Trainer::last_checkpoint_note() const {
  return fs::exists(run_checkpoint_path(run_dir_)) ? "the last good checkpoint stays in " + run_checkpoint_path(run_dir_)
                                                   : "no checkpoint was saved before it";
}

SequenceModelOutput Trainer::forward(const Batch& batch) {
  return batch.features.defined() ? model_->forward(batch.features) : model_->forward(batch.tokens);
}

// Dropout modules own generators that a checkpoint does not hold: seeding them from the
// run's generator each step makes their masks a function of the saved state. On several
// ranks each draws other masks for its own rows (rank 0's are one process's).
void Trainer::reseed_dropout() {
  const uint64_t rank_offset = static_cast<uint64_t>(dist::rank()) * 0x9E3779B97F4A7C15ULL;
  for (Dropout* d : dropouts_) d->generator().seed(gen_.next_u64() + rank_offset);
}

void Trainer::check_finite(double loss, const GradientNorms& norms) const {
  const int64_t step = step_ + 1;
  std::string first;
  for (size_t i = 0; i < norms.per_parameter.size() && first.empty(); ++i)
    if (!std::isfinite(norms.per_parameter[i])) first = parameter_names_[i];
  if (std::isfinite(loss) && first.empty()) return;
  std::string message = "step " + std::to_string(step) + ": ";
  if (!std::isfinite(loss)) message += "the loss is " + std::to_string(loss) + (first.empty() ? "" : "; ");
  if (!first.empty()) message += "the gradient of " + first + " is not finite (the first in named_parameters order)";
  message += ". The run stops without applying this step; " + last_checkpoint_note();
  message += ". Try a lower optimizer.lr or set train.grad_clip.";
  throw NonFiniteError(step, first, message);
}

EvalResult Trainer::evaluate() { return evaluate_model(*model_, held_out_); }

// A row that cannot be written stops the run. No checkpoint is saved after it: one at
// this step would make --resume keep the files without this row, so the last checkpoint
// stays and a resumed run writes the row again.
void Trainer::write_rows(const StepMetrics& m, const std::optional<ProbeRecord>& probe) {
  if (!metrics_) return;  // not rank 0
  try {
    metrics_->write(m);
    if (probe) probes_->write(*probe);
  } catch (const RunFileError& e) {
    throw RunFileError(std::string(e.what()) + ". The run stops at step " + std::to_string(step_) + "; " +
                       last_checkpoint_note() + " (continue with " + options_.program + " --resume " + run_dir_ +
                       " once it can write)");
  }
}

TrainResult Trainer::run() {
  const TrainConfig& cfg = config_.train;
  TrainResult result;
  Progress progress(*options_.log, {.total_steps = cfg.steps, .first_step = step_, .log_interval = cfg.log_interval,
                                    .terminal = options_.progress_bar.value_or(isatty(STDOUT_FILENO) != 0)});
  if (step_ >= cfg.steps) {
    progress.message("nothing to do: the run has done " + std::to_string(step_) + " of train.steps " +
                     std::to_string(cfg.steps) + " (raise it with --set train.steps=N)");
    result.steps = step_;
    return result;
  }
  model_->train();
  // A signal reaches the ranks at different moments; they agree to stop at the same step.
  int stop = 0;
  while (step_ < cfg.steps && (stop = dist::allreduce_max(stop_signal())) == 0) {
    const auto start = std::chrono::steady_clock::now();

    // 1. Sample a batch and run the model on it (on N ranks, on this rank's rows of it); a
    // probe step keeps the attention statistics, which the fused kernel gives per row.
    const bool probing = probes_ && due_next(config_.probes.interval);
    const dist::BatchShare share = dist::share_of_batch(task_->sample(cfg.batch_size, gen_), dist::rank(), dist::size());
    const Batch& batch = share.batch;
    reseed_dropout();
    model_->keep_attention_stats(probing);
    // The products of forward and backward in train.precision; the rest of the step in float32.
    std::optional<PrecisionScope> precision(std::in_place, cfg.precision);
    const SequenceModelOutput out = forward(batch);

    // 2. Loss, and its gradient with respect to every parameter.
    const Tensor loss = cross_entropy(out.logits, batch.targets, kIgnore);
    optimizer_->zero_grad();
    loss.backward();
    precision.reset();
    if (gradient_reducer_) gradient_reducer_->sum_weighted(share.weight);

    // 3. Stop before a non-finite value reaches the weights; clip.
    const GradientNorms norms = gradient_norms(parameters_);
    check_finite(loss.item(), norms);
    if (cfg.grad_clip > 0) clip_grad_norm(parameters_, {.max_norm = cfg.grad_clip});

    // 4. Update at this step's learning rate.
    const std::optional<ParameterSnapshot> before = probing ? std::optional(ParameterSnapshot(parameters_)) : std::nullopt;
    schedule_->apply(*optimizer_, step_);
    optimizer_->step();
    ++step_;

    // 5. Log: metrics of this step, held-out evaluation when due.
    StepMetrics m;
    m.step = step_;
    m.loss = loss.item();
    const Accuracy accuracy = count_correct(out.logits, batch.targets, kIgnore);
    m.accuracy = accuracy.value();
    m.lr = optimizer_->lr(0);
    m.grad_norm = norms.global;
    if (gradient_reducer_) combine_step_metrics(m, accuracy, share);
    m.step_time = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (due(cfg.eval_interval) || step_ == cfg.steps) {
      const EvalResult eval = evaluate();
      m.eval_loss = eval.loss;
      m.eval_accuracy = eval.accuracy;
      result.eval = eval;
    }
    std::optional<ProbeRecord> probe;
    if (probing)
      probe = ProbeRecord{.step = step_, .attention = attention_probes(out),
                          .grad_norms = norms.per_parameter, .update_ratios = before->update_ratios(parameters_)};
    write_rows(m, probe);
    progress.update(m);
    if (m.eval_loss)
      progress.message("eval at step " + std::to_string(step_) + ": loss " + fixed(*m.eval_loss, 4) + ", accuracy " +
                       fixed(*m.eval_accuracy, 4) + " (chance " + fixed(task_->chance_accuracy(), 4) + ")");

    // 6. Checkpoint when due and at the end.
    if (due(cfg.checkpoint_interval) || step_ == cfg.steps) {
      save_checkpoint();
      if (step_ < cfg.steps) progress.message("checkpoint at step " + std::to_string(step_));
    }
  }
  result.steps = step_;
  if (step_ < cfg.steps) {  // stopped by a signal
    save_checkpoint();
    result.reason = StopReason::interrupted;
    result.signal = stop;
    progress.message("stopped on " + signal_name(result.signal) + " after step " + std::to_string(step_) +
                     "; checkpoint saved. Continue with: " + options_.program + " --resume " + run_dir_);
  } else {
    progress.message("done: " + std::to_string(step_) + " steps; checkpoint " + run_checkpoint_path(run_dir_));
  }
  progress.finish();
  if (cfg.plots && dist::is_root()) write_plots();
  return result;
}

// Plots are a view of the files the run wrote: one that cannot be drawn is a note, not a
// failed run.
void Trainer::write_plots() {
  try {
    for (const std::string& png : plot_runs({run_dir_}, (fs::path(run_dir_) / "plots").string()))
      *options_.log << "plot: " << png << "\n";
  } catch (const std::exception& e) {
    *options_.log << "note: no plots: " << e.what() << "\n";
  }
}

}  // namespace qkv
