#include "experiments/position.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "core/autograd.h"
#include "core/generator.h"
#include "dist/communicator.h"
#include "experiments/experiment_config.h"
#include "train/heatmap.h"
#include "train/plot.h"
#include "experiments/probe_config.h"
#include "experiments/table.h"
#include "experiments/training_sweep.h"
#include "io/safetensors.h"
#include "tasks/sequence_tasks.h"

namespace qkv {
namespace fs = std::filesystem;

const std::vector<std::string>& position_variant_names() {
  static const std::vector<std::string> names{"none", "sinusoidal", "learned", "relative", "rope", "alibi"};
  return names;
}

PositionOptions default_position_options() {
  PositionOptions o;
  o.run = {{"model", {{"d_model", 32}, {"heads", 2}, {"layers", 2}, {"d_ff", 64}}},
           {"task", {{"name", "shift"}, {"seq_len", 16}, {"vocab", 16}, {"shift", 3}, {"eval_batches", 8}}},
           {"optimizer", {{"name", "adam"}, {"lr", 3e-3}}},
           {"train", {{"steps", 1000}, {"batch_size", 32}, {"eval_interval", 25}, {"seed", 0}}}};
  return o;
}

PositionOptions load_position_options(const std::string& path, const std::vector<std::string>& overrides) {
  PositionOptions o = default_position_options();
  o.config_source = experiment_config_source(path, overrides);
  JsonReader root(read_experiment_config(path, overrides), o.config_source);
  root.string("out_dir", o.out_dir);
  root.string_list("variants", o.variants, position_variant_names());
  root.string("scorer", o.scorer, comparison_scorer_choices());
  root.integer("relative_window", o.relative_window, 1, 4096);
  root.integer("seeds", o.seeds, 1, 1000);
  read_run_keys(root, o.run);
  JsonReader equivariance = root.child("equivariance");
  equivariance.integer("batches", o.equivariance_batches, 1, 100000);
  int64_t seed = static_cast<int64_t>(o.equivariance_seed);
  equivariance.integer("seed", seed, 0, INT64_MAX);
  o.equivariance_seed = static_cast<uint64_t>(seed);
  equivariance.check_unknown_keys();
  JsonReader ceiling = root.child("ceiling");
  ceiling.integer("samples", o.ceiling_samples, 1, 100000000);
  seed = static_cast<int64_t>(o.ceiling_seed);
  ceiling.integer("seed", seed, 0, INT64_MAX);
  o.ceiling_seed = static_cast<uint64_t>(seed);
  ceiling.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  const std::vector<RunConfig> runs = position_training_runs(o);  // every run config checked before anything runs
  const std::vector<std::string> ordered{"copy", "reverse", "sort", "shift"};
  if (!runs.empty() && std::find(ordered.begin(), ordered.end(), runs.front().task.name) == ordered.end())
    root.problem("run.task.name", "an order-dependent task: copy, reverse, sort or shift", runs.front().task.name);
  root.throw_if_problems();
  return o;
}

nlohmann::json position_variant_model(const std::string& variant, const std::string& scorer, int64_t relative_window) {
  if (std::find(position_variant_names().begin(), position_variant_names().end(), variant) ==
      position_variant_names().end())
    throw std::invalid_argument("position_variant_model: unknown variant \"" + variant +
                                "\"; known: none, sinusoidal, learned, relative, rope, alibi");
  nlohmann::json model = comparison_scorer_model(scorer, relative_window);
  if (variant == "relative") {
    model["relative_bias"] = "clipped";
    model["relative_window"] = relative_window;
  }
  model["positional"] = variant == "relative" ? "none" : variant;
  return model;
}

std::vector<RunConfig> position_training_runs(const PositionOptions& options) {
  const std::string source = options.config_source + " run";
  const uint64_t first_seed = experiment_run_config(options.run, {}, source, options.out_dir).train.seed;
  std::vector<RunConfig> runs;
  for (const std::string& variant : options.variants)
    for (int64_t s = 0; s < options.seeds; ++s) {
      const uint64_t seed = first_seed + static_cast<uint64_t>(s);
      const nlohmann::json changes = {
          {"model", position_variant_model(variant, options.scorer, options.relative_window)},
          {"train", {{"seed", seed}}}};
      runs.push_back(experiment_run_config(options.run, changes, source,
                                           options.out_dir + "/runs/" + variant + "_seed" + std::to_string(seed)));
    }
  return runs;
}

namespace {
// E[max multiplicity] / L for L draws uniform over S symbols, exactly:
// P(max <= t) = L! / S^L * [x^L] (sum_{j<=t} x^j / j!)^S.
double expected_mode_fraction(int64_t length, int64_t symbols) {
  const size_t L = static_cast<size_t>(length);
  const double log_scale = std::lgamma(static_cast<double>(length) + 1) - static_cast<double>(length) * std::log(static_cast<double>(symbols));
  double expected_max = 0;
  for (int64_t t = 0; t < length; ++t) {
    std::vector<double> factor(L + 1, 0), power(L + 1, 0);
    for (int64_t j = 0; j <= t; ++j) factor[static_cast<size_t>(j)] = std::exp(-std::lgamma(static_cast<double>(j) + 1));
    power[0] = 1;
    for (int64_t s = 0; s < symbols; ++s) {
      std::vector<double> next(L + 1, 0);
      for (size_t a = 0; a <= L; ++a)
        for (size_t b = 0; a + b <= L; ++b) next[a + b] += power[a] * factor[b];
      power = next;
    }
    expected_max += 1 - power[L] * std::exp(log_scale);  // P(max > t)
  }
  return expected_max / static_cast<double>(length);
}

// Given the multiset (counts m over tokens) of a shift-by-k input of length N, the expected
// number of positions an order-blind predictor gets right when it answers each token a
// with its best guess: the filler (right for the k*m_a/N positions expected before k) or
// the symbol b maximising (N-k) * m_a * (m_b - [a == b]) / (N (N - 1)).
double shift_best_correct(const std::vector<int64_t>& counts, int64_t n, int64_t k) {
  const double N = static_cast<double>(n), K = static_cast<double>(k);
  double correct = 0;
  for (size_t a = 0; a < counts.size(); ++a) {
    if (counts[a] == 0) continue;
    const double m_a = static_cast<double>(counts[a]);
    double best_partner = 0;
    for (size_t b = 0; b < counts.size(); ++b)
      best_partner = std::max(best_partner, static_cast<double>(counts[b] - (a == b ? 1 : 0)));
    correct += std::max(K * m_a / N, (N - K) * m_a * best_partner / (N * (N - 1)));
  }
  return correct;
}
}  // namespace

OrderBlindCeiling order_blind_ceiling(const Task& task, int64_t samples, uint64_t seed) {
  if (const auto* seq = dynamic_cast<const SequenceTask*>(&task)) {
    const int64_t symbols = seq->vocab_size() - SequenceTask::kFirstSymbol;
    return {expected_mode_fraction(seq->source_len(), symbols), 0,
            "exact: every answer slot holds the same blank token, so an order-blind model gives one answer per "
            "sequence; the best is the most frequent source symbol, right on E[max multiplicity] / L of the slots "
            "(computed in closed form for L = " + std::to_string(seq->source_len()) + ", " + std::to_string(symbols) +
            " symbols)"};
  }
  if (const auto* shift = dynamic_cast<const ShiftTask*>(&task)) {
    const int64_t n = shift->seq_len(), k = shift->shift();
    if (k == 0) return {1, 0, "exact: shift 0 is the identity, which needs no order"};
    if (samples < 2) throw std::invalid_argument("order_blind_ceiling: shift needs at least 2 samples");
    Generator gen(seed);
    double sum = 0, sum_sq = 0;
    const int64_t chunk = 1024;
    for (int64_t done = 0; done < samples; done += chunk) {
      const int64_t count = std::min(chunk, samples - done);
      const Batch batch = task.sample(count, gen);
      for (int64_t b = 0; b < count; ++b) {
        std::vector<int64_t> counts(static_cast<size_t>(task.vocab_size()), 0);
        for (int64_t i = 0; i < n; ++i) ++counts[static_cast<size_t>(batch.tokens.values[static_cast<size_t>(b * n + i)])];
        const double accuracy = shift_best_correct(counts, n, k) / static_cast<double>(n);
        sum += accuracy;
        sum_sq += accuracy * accuracy;
      }
    }
    const double s = static_cast<double>(samples), mean = sum / s;
    const double variance = std::max(0.0, (sum_sq - s * mean * mean) / (s - 1));
    return {mean, std::sqrt(variance / s),
            "Bayes-optimal given (own token, multiset): for each token a the best of the filler (expected right on "
            "k*m_a/N positions) and the symbol b maximising (N-k)*m_a*(m_b - [a=b])/(N(N-1)), exact per multiset; "
            "averaged over " + std::to_string(samples) + " random inputs (Monte Carlo, standard error reported)"};
  }
  throw std::invalid_argument("order_blind_ceiling: known for copy, reverse, sort and shift, not \"" + task.name() + "\"");
}

double permutation_equivariance_error(SequenceModel& model, const Task& task, int64_t batches, int64_t batch_size,
                                      uint64_t seed) {
  if (task.continuous()) throw std::invalid_argument("permutation_equivariance_error: needs a token task, got " + task.name());
  NoGradGuard no_grad;
  model.eval();
  Generator gen(seed);
  const int64_t n = task.seq_len();
  double worst = 0;
  for (int64_t batch_index = 0; batch_index < batches; ++batch_index) {
    const Batch batch = task.sample(batch_size, gen);
    std::vector<int64_t> perm(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    for (int64_t i = n - 1; i > 0; --i) std::swap(perm[static_cast<size_t>(i)], perm[static_cast<size_t>(gen.integer(0, i + 1))]);
    // (P x)[b, i] = x[b, perm[i]], so (P model(x))[b, i] = model(x)[b, perm[i]].
    std::vector<int64_t> permuted(batch.tokens.values.size());
    for (int64_t b = 0; b < batch_size; ++b)
      for (int64_t i = 0; i < n; ++i)
        permuted[static_cast<size_t>(b * n + i)] = batch.tokens.values[static_cast<size_t>(b * n + perm[static_cast<size_t>(i)])];
    const Tensor plain = model.forward(batch.tokens).logits;
    const Tensor shuffled = model.forward(Indices::from(std::move(permuted), batch.tokens.shape)).logits;
    const int64_t classes = plain.size(-1);
    for (int64_t b = 0; b < batch_size; ++b)
      for (int64_t i = 0; i < n; ++i) {
        const Scalar* want = plain.data() + (b * n + perm[static_cast<size_t>(i)]) * classes;
        const Scalar* got = shuffled.data() + (b * n + i) * classes;
        for (int64_t c = 0; c < classes; ++c) worst = std::max(worst, static_cast<double>(std::abs(got[c] - want[c])));
      }
  }
  return worst;
}

namespace {
std::string tokens_text(const Indices& values, int64_t n) {
  std::ostringstream os;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = values.values[static_cast<size_t>(i)];
    os << (i ? " " : "") << (v == kIgnore ? std::string("-") : std::to_string(v));
  }
  return os.str();
}

std::string curve_stem(const PositionRow& row) {
  return "curve_" + row.variant + "_seed" + std::to_string(row.seed);
}

void plot_accuracy(const std::string& dir, const PositionOptions& options, const PositionResult& result,
                   std::vector<std::string>& images) {
  std::ostringstream os;
  os << "set yrange [0:1.02]\nset xlabel 'step'\nset ylabel 'held-out accuracy'\n"
     << "set title "
     << gnuplot_string("Task " + result.rows.front().result.config.task.name + " " +
                       result.rows.front().result.config.task.options.dump() + ": positional variants, " +
                       std::to_string(options.seeds) + " seed(s) each")
     << "\nplot ";
  // One colour per variant, every seed's curve in it; the key names each variant once.
  std::vector<std::string> variants;
  for (size_t i = 0; i < result.rows.size(); ++i) {
    const PositionRow& row = result.rows[i];
    const auto at = std::find(variants.begin(), variants.end(), row.variant);
    const bool first = at == variants.end();
    if (first) variants.push_back(row.variant);
    os << (i ? ", " : "") << gnuplot_string(curve_stem(row) + ".csv") << " skip 1 using 1:4 with lines lw 2 lc rgb '"
       << line_color(static_cast<size_t>(std::find(variants.begin(), variants.end(), row.variant) - variants.begin()))
       << "' " << (first ? "title " + gnuplot_string(row.variant) : std::string("notitle"));
  }
  os << ", " << result.ceiling.accuracy << " with lines dt 2 lw 2 lc rgb 'black' title 'order-blind ceiling'"
     << ", " << result.chance_accuracy << " with lines dt 3 lw 2 lc rgb 'gray40' title 'chance'\n";
  if (render_plot(dir + "/accuracy", os.str(), 1000, 600)) images.push_back("accuracy.png");
}

// Binomial standard error of a held-out accuracy over `eval_positions` scored positions,
// treated as independent.
double held_out_standard_error(double accuracy, double eval_positions) {
  return std::sqrt(std::max(accuracy * (1 - accuracy), 1e-12) / eval_positions);
}

// Above the ceiling by more than sampling noise: the run uses order.
bool beats_ceiling(double accuracy, const OrderBlindCeiling& ceiling, double eval_positions) {
  return accuracy > ceiling.accuracy + 2 * (held_out_standard_error(accuracy, eval_positions) + ceiling.standard_error);
}

std::vector<PositionVariantOutcome> variant_outcomes(const PositionResult& result, double eval_positions) {
  std::vector<PositionVariantOutcome> outcomes;
  std::vector<SeedTally> tallies;
  for (const PositionRow& row : result.rows) {
    if (outcomes.empty() || outcomes.back().variant != row.variant) {
      outcomes.push_back({.variant = row.variant});
      tallies.emplace_back();
    }
    PositionVariantOutcome& o = outcomes.back();
    tallies.back().add(row.result);
    o.above_ceiling += beats_ceiling(row.result.curve.back().eval_accuracy, result.ceiling, eval_positions);
    o.max_equivariance_error = std::max(o.max_equivariance_error, row.equivariance_error);
  }
  for (size_t i = 0; i < outcomes.size(); ++i) {
    outcomes[i].runs = tallies[i].runs;
    outcomes[i].reached_90 = tallies[i].reached_90;
    outcomes[i].mean_accuracy = tallies[i].mean_accuracy();
    outcomes[i].steps_reaching_90 = tallies[i].steps_reaching_90;
  }
  return outcomes;
}

// One row per variant over its seeds.
Table summary_table(const std::vector<PositionVariantOutcome>& outcomes, double ceiling) {
  Table t({"variant", "mean_final_accuracy", "seeds_reaching_90", "steps_reaching_90", "order_blind_ceiling",
           "max_equivariance_error"});
  for (const PositionVariantOutcome& o : outcomes)
    t.add_row({o.variant, o.mean_accuracy, std::to_string(o.reached_90) + "/" + std::to_string(o.runs),
               o.steps_reaching_90, ceiling, o.max_equivariance_error});
  return t;
}

// Every run against the ceiling, in words.
std::string runs_against_ceiling(const PositionResult& result, double eval_positions) {
  std::ostringstream os;
  for (const auto& row : result.rows) {
    const double acc = row.result.curve.back().eval_accuracy;
    os << "- **" << row.variant << "**, seed " << row.seed << ": final held-out accuracy " << acc;
    if (beats_ceiling(acc, result.ceiling, eval_positions))
      os << ", above the order-blind ceiling " << result.ceiling.accuracy << ": it uses order";
    else if (acc > result.ceiling.accuracy)
      os << ", above the order-blind ceiling " << result.ceiling.accuracy << " by " << acc - result.ceiling.accuracy
         << ", within two standard errors of the held-out estimate (one is "
         << held_out_standard_error(acc, eval_positions) << ")";
    else
      os << ", not above the order-blind ceiling " << result.ceiling.accuracy;
    os << "; max |model(P x) - P model(x)| = " << row.equivariance_error << ".\n";
  }
  return os.str();
}
}  // namespace

std::string position_verdict(const std::vector<PositionVariantOutcome>& outcomes, const OrderBlindCeiling& ceiling) {
  const auto none = std::find_if(outcomes.begin(), outcomes.end(), [](const auto& o) { return o.variant == "none"; });
  const bool contradicted = none != outcomes.end() && none->above_ceiling > 0;
  const bool positions_learn = std::any_of(outcomes.begin(), outcomes.end(), [](const auto& o) {
    return o.variant != "none" && o.runs > 0 && o.above_ceiling == o.runs;
  });
  std::ostringstream os;
  os << "**Claim** (the seed's): self-attention without position information is permutation-equivariant, so it "
        "cannot learn an order-dependent task beyond the order-blind ceiling; with position information it can. "
     << "**Verdict: this run "
     << (contradicted                ? "contradicts it"
         : none == outcomes.end()    ? "cannot tell (no variant without positions ran)"
         : positions_learn           ? "supports it"
                                     : "cannot tell (no variant with positions beat the ceiling in every run)")
     << ".** Order-blind ceiling " << report_number(ceiling.accuracy);
  if (ceiling.standard_error > 0) os << " (standard error " << report_number(ceiling.standard_error) << ")";
  os << ". Per variant: mean final held-out accuracy; runs above the ceiling by two standard errors; runs reaching "
        "90%; max |model(P x) - P model(x)|:";
  for (const PositionVariantOutcome& o : outcomes)
    os << (&o == &outcomes.front() ? " " : "; ") << "`" << o.variant << "` " << report_number(o.mean_accuracy) << ", "
       << o.above_ceiling << " of " << o.runs << ", " << o.reached_90 << " of " << o.runs << ", "
       << report_number(o.max_equivariance_error);
  os << ".";
  return os.str();
}

PositionResult run_position_experiment(const PositionOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  PositionResult result;
  // Under mpirun the ranks share the training runs; rank 0 reads them back and writes.
  const std::vector<RunConfig> cells = position_training_runs(options);
  const TrainingSweep sweep(cells);
  if (!dist::is_root()) return result;
  const RunConfig& b = cells.front();
  const auto task = make_task(b.task);
  fs::create_directories(dir);
  result.chance_accuracy = task->chance_accuracy();
  result.ceiling = order_blind_ceiling(*task, options.ceiling_samples, options.ceiling_seed);
  log << "order-blind ceiling " << result.ceiling.accuracy << " (se " << result.ceiling.standard_error << "), chance "
      << result.chance_accuracy << "\n";

  Table table({"variant", "seed", "final_accuracy", "step_reaching_90", "chance_accuracy", "order_blind_ceiling",
               "equivariance_error", "parameter_count"});
  Table timing({"variant", "seed", "ms_per_step_median", "ms_per_step_mean"});
  std::vector<std::string> images, heatmaps;
  size_t cell = 0;
  for (const std::string& variant : options.variants) {
    for (int64_t s = 0; s < options.seeds; ++s, ++cell) {
      PositionRow row{variant, cells[cell].train.seed, sweep.take(cell), 0};
      row.equivariance_error = row.result.model ? permutation_equivariance_error(*row.result.model, *task,
                                                                                 options.equivariance_batches,
                                                                                 b.train.batch_size, options.equivariance_seed)
                                                : std::numeric_limits<double>::quiet_NaN();
      const double acc = row.result.curve.back().eval_accuracy;
      const auto seed = static_cast<int64_t>(row.seed);
      table.add_row({variant, seed, acc, step_text(row.result.step_reaching_90), result.chance_accuracy,
                     result.ceiling.accuracy, row.equivariance_error, row.result.parameter_count});
      timing.add_row({variant, seed, row.result.median_seconds_per_step * 1e3, row.result.seconds_per_step * 1e3});
      curve_table(row.result.curve).save(dir + "/" + curve_stem(row));
      // Heatmaps of the first seed's model: every layer, every head.
      for (size_t layer = 0; s == 0 && layer < row.result.sample_attention.size(); ++layer) {
        const std::string stem = "attention_" + variant + "_layer" + std::to_string(layer);
        if (write_heatmap(dir + "/" + stem, row.result.sample_attention[layer],
                          variant + ", layer " + std::to_string(layer) + ", seed " + std::to_string(row.seed)))
          heatmaps.push_back(stem + ".png");
      }
      log << variant << " seed " << row.seed << ": accuracy " << acc << ", 90% at "
          << step_text(row.result.step_reaching_90) << ", equivariance error " << row.equivariance_error << ", "
          << row.result.median_seconds_per_step * 1e3 << " ms/step (median)\n";
      result.rows.push_back(std::move(row));
    }
  }
  // Scored positions per held-out sequence: the same in every sequence of these tasks.
  Generator count_gen(b.task.eval_seed);
  const std::vector<int64_t> one_targets = task->sample(1, count_gen).targets.values;
  const double eval_positions =
      static_cast<double>(b.task.eval_batches * b.train.batch_size) *
      static_cast<double>(std::count_if(one_targets.begin(), one_targets.end(), [](int64_t t) { return t != kIgnore; }));
  result.outcomes = variant_outcomes(result, eval_positions);
  result.verdict = position_verdict(result.outcomes, result.ceiling);
  table.save(dir + "/position");
  const Table summary = summary_table(result.outcomes, result.ceiling.accuracy);
  summary.save(dir + "/summary");
  timing.save(dir + "/timing");
  plot_accuracy(dir, options, result, images);

  // ---- report ----
  std::ostringstream md;
  md << "# Position information\n\n" << result.verdict << "\n\n"
     << "Generated by `position` from `" << options.config_source << "`; every figure below was computed by this run.\n\n"
     << "Task `" << b.task.name << "` (" << b.task.options.dump() << "), a " << b.model.layers << "-layer pre-LN transformer, d_model "
     << b.model.d_model << ", " << b.model.heads << " heads, d_ff " << b.model.d_ff << ", " << enum_name(b.optimizer.name) << " lr "
     << b.optimizer.lr << ", batch " << b.train.batch_size << ", " << b.train.steps << " steps, " << options.seeds
     << " seed(s) per variant from " << b.train.seed << "; held-out accuracy every " << b.train.eval_interval
     << " steps on " << b.task.eval_batches << " batches (" << eval_positions << " scored positions) from another seed. "
     << "Each run is an ordinary run folder under `runs/`. The scorer of every variant is `" << options.scorer << "`. "
     << "Variants: `none` (no positional encoding), `sinusoidal` and `learned` (absolute encodings added to the "
     << "embeddings), `relative` (no absolute encoding; scaled_dot scores plus a learned bias per head and relative "
     << "distance, clipped to [-" << options.relative_window << ", " << options.relative_window << "]), `rope` "
     << "(no absolute encoding; queries and keys rotated by position before scaled_dot, Su et al.), `alibi` (no "
     << "absolute encoding; scaled_dot minus a fixed per-head slope times |i - j|, Press et al.).\n\n"
     << "Per variant, over the seeds (`steps_reaching_90` lists each seed's step):\n\n" << summary.markdown()
     << "\nEvery run:\n\n" << table.markdown() << "\n"
     << "`chance_accuracy` is the task's input-blind guesser, which still knows each position's index (for shift, "
     << "that the first k targets are the filler), so the order-blind ceiling can lie below it; "
     << "`order_blind_ceiling` is the best accuracy any "
     << "predictor can reach from the multiset of input tokens plus the token at its own position "
     << "(" << result.ceiling.method;
  if (result.ceiling.standard_error > 0) md << "; standard error " << result.ceiling.standard_error;
  md << "). `equivariance_error` is max |model(P x) - P model(x)| over the logits of " << options.equivariance_batches
     << " held-out batches, each with its own random permutation P of the positions.\n\n";
  for (const auto& img : images) md << "![" << img << "](" << img << ")\n\n";
  md << "## Why a model without positions stops at the ceiling\n\n"
     << "Without positional information every part of the model treats positions alike: the embedding, the "
     << "feed-forward layers, the layer norms and the output head act on each token separately, and self-attention "
     << "computes softmax_j(score(q_i, k_j)) from contents only and sums over the keys as over a set. So the whole "
     << "model is permutation-equivariant: shuffling the input positions shuffles the outputs the same way, "
     << "model(P x) = P model(x). Its output at position i is then a function of the token at i and the multiset of "
     << "all tokens, and an order-dependent target can be predicted no better than the order-blind ceiling above.\n\n"
     << "Measured:\n\n" << runs_against_ceiling(result, eval_positions) << "\n"
     << "The `none` model's equivariance error is float rounding (the attention sums run over the keys in another "
     << "order); with absolute or relative positions the outputs move with the positions and the error is of the "
     << "order of the logits themselves.\n\n"
     << "Per-step time (not part of the comparison; the machine may be shared): median ms/step\n\n"
     << timing.markdown() << "\n"
     << "## Attention of the trained models\n\n"
     << "The first seed's model of each variant, every layer and head, on one held-out input, input tokens `"
     << (result.rows.empty() ? std::string() : tokens_text(result.rows.front().result.sample_input.tokens, task->seq_len()))
     << "`, targets `"
     << (result.rows.empty() ? std::string() : tokens_text(result.rows.front().result.sample_input.targets, task->seq_len()))
     << "` (`-` not scored). Rows are queries i, columns keys j.\n\n";
  for (const auto& img : heatmaps) md << "![" << img << "](" << img << ")\n\n";
  if (!gnuplot_available())
    md << "_gnuplot was not found: the data and the gnuplot scripts (`*.gp`) are written, the PNGs are not. "
          "Install gnuplot-nox and run `gnuplot NAME.gp` in this folder._\n";
  write_file_atomically(dir + "/report.md", md.str());
  return result;
}

}  // namespace qkv
