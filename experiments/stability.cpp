#include "experiments/stability.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>

#include "dist/communicator.h"
#include "experiments/experiment_config.h"
#include "experiments/probe_config.h"
#include "experiments/statistics.h"
#include "experiments/table.h"
#include "experiments/training_sweep.h"
#include "io/safetensors.h"
#include "train/plot.h"
#include "train/run_logs.h"

namespace qkv {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::vector<std::string> kScorers{"scaled_dot", "qk_norm"};
const std::vector<std::string> kReparamVariants{"plain", "sigma_reparam"};

// A run that solved the task: every evaluation after it is at least this accurate. The
// sweep's "usable" rates are those where every seed ends there without diverging.
constexpr double kSolvedAccuracy = 0.9;
// Part 1's claim needs the plain model's peak logit at the highest rate to be this many
// times its peak at the lowest rate, and above the QK-norm model's at the highest rate.
constexpr double kLogitGrowthFactor = 2;
// Part 2: a head has collapsed when its entropy is below this fraction of ln N (uniform
// attention over N keys).
constexpr double kCollapsedEntropyFraction = 0.1;

std::string lr_text(double lr) { return json(lr).dump(); }

bool usable(const StabilityRun& r) { return r.diverged_step < 0 && r.final_accuracy >= kSolvedAccuracy; }

double median_of(const std::vector<const StabilityRun*>& runs, double StabilityRun::*field) {
  std::vector<double> values;
  for (const StabilityRun* r : runs)
    if (!std::isnan(r->*field)) values.push_back(r->*field);
  return quantile(values, 0.5);
}

std::vector<const StabilityRun*> runs_of(const std::vector<StabilityRun>& runs, const std::string& variant, double lr) {
  std::vector<const StabilityRun*> out;
  for (const StabilityRun& r : runs)
    if (r.variant == variant && (std::isnan(lr) || r.lr == lr)) out.push_back(&r);
  return out;
}

std::vector<double> lrs_of(const std::vector<StabilityRun>& runs) {
  std::vector<double> lrs;
  for (const StabilityRun& r : runs)
    if (std::find(lrs.begin(), lrs.end(), r.lr) == lrs.end()) lrs.push_back(r.lr);
  std::sort(lrs.begin(), lrs.end());
  return lrs;
}

// Wortsman et al.'s learning-rate sensitivity: the mean over rates of min(L(lr), L0) - L*,
// with L0 the loss a run that learned nothing sits at (here a uniform guess; a diverged run
// counts as L0) and L* the best loss over the rates. Lower means a wider usable range.
double lr_sensitivity(const std::vector<StabilityRun>& runs, const std::string& variant, double chance_loss) {
  std::vector<double> losses;
  for (double lr : lrs_of(runs)) {
    double loss = median_of(runs_of(runs, variant, lr), &StabilityRun::final_eval_loss);
    for (const StabilityRun* r : runs_of(runs, variant, lr))
      if (r->diverged_step >= 0) loss = chance_loss;  // a rate where any seed diverges failed
    losses.push_back(std::isnan(loss) ? chance_loss : std::min(loss, chance_loss));
  }
  if (losses.empty()) return kNaN;
  const double best = *std::min_element(losses.begin(), losses.end());
  double total = 0;
  for (double l : losses) total += l - best;
  return total / static_cast<double>(losses.size());
}

std::vector<double> usable_lrs(const std::vector<StabilityRun>& runs, const std::string& variant) {
  std::vector<double> out;
  for (double lr : lrs_of(runs)) {
    const auto at = runs_of(runs, variant, lr);
    if (!at.empty() && std::all_of(at.begin(), at.end(), [](const StabilityRun* r) { return usable(*r); }))
      out.push_back(lr);
  }
  return out;
}

std::string list_text(const std::vector<double>& lrs) {
  if (lrs.empty()) return "none";
  std::string s;
  for (double lr : lrs) s += (s.empty() ? "" : ", ") + lr_text(lr);
  return s;
}

int64_t diverged_count(const std::vector<const StabilityRun*>& runs) {
  return std::count_if(runs.begin(), runs.end(), [](const StabilityRun* r) { return r->diverged_step >= 0; });
}

std::string run_folder(const std::string& variant, double lr, uint64_t seed) {
  return variant + "_lr" + lr_text(lr) + "_seed" + std::to_string(seed);
}
}  // namespace

StabilityOptions default_stability_options() {
  StabilityOptions o;
  const json run = {
      {"model", {{"d_model", 64}, {"heads", 4}, {"layers", 2}, {"d_ff", 128}, {"positional", "sinusoidal"}}},
      {"task", {{"name", "reverse"}, {"seq_len", 12}, {"vocab", 12}, {"eval_batches", 4}}},
      {"optimizer", {{"name", "adam"}, {"lr", 1e-3}}},
      {"train", {{"steps", 400}, {"batch_size", 32}, {"eval_interval", 25}, {"seed", 0}}}};
  o.logit_growth.run = run;
  o.entropy_collapse.run = run;
  return o;
}

StabilityOptions load_stability_options(const std::string& path, const std::vector<std::string>& overrides) {
  StabilityOptions o = default_stability_options();
  o.config_source = experiment_config_source(path, overrides);
  JsonReader root(read_experiment_config(path, overrides), o.config_source);
  root.string("out_dir", o.out_dir);

  JsonReader growth = root.child("logit_growth");
  growth.boolean("enabled", o.logit_growth.enabled);
  growth.number_list("lr", o.logit_growth.lrs, 1e-12, 10);
  if (o.logit_growth.lrs.empty()) growth.problem("lr", "at least one learning rate", "[]");
  growth.integer("seeds", o.logit_growth.seeds, 1, 1000);
  read_run_keys(growth, o.logit_growth.run);
  growth.check_unknown_keys();

  JsonReader collapse = root.child("entropy_collapse");
  collapse.boolean("enabled", o.entropy_collapse.enabled);
  collapse.number("lr", o.entropy_collapse.lr, 1e-12, 10);
  collapse.integer("seeds", o.entropy_collapse.seeds, 1, 1000);
  read_run_keys(collapse, o.entropy_collapse.run);
  collapse.check_unknown_keys();
  root.check_unknown_keys();
  root.throw_if_problems();
  stability_training_runs(o);  // every run config checked before anything runs
  return o;
}

std::vector<RunConfig> stability_training_runs(const StabilityOptions& options) {
  std::vector<RunConfig> runs;
  const std::string runs_dir = options.out_dir + "/runs/";
  if (options.logit_growth.enabled) {
    const std::string source = options.config_source + " logit_growth.run";
    const json& base = options.logit_growth.run;
    const uint64_t first_seed = experiment_run_config(base, {}, source, options.out_dir).train.seed;
    for (const std::string& scorer : kScorers)
      for (double lr : options.logit_growth.lrs)
        for (int64_t s = 0; s < options.logit_growth.seeds; ++s) {
          const uint64_t seed = first_seed + static_cast<uint64_t>(s);
          const json changes = {{"model", comparison_scorer_model(scorer, 0)},
                                {"optimizer", {{"lr", lr}}},
                                {"train", {{"seed", seed}}}};
          runs.push_back(experiment_run_config(base, changes, source, runs_dir + run_folder(scorer, lr, seed)));
        }
  }
  if (options.entropy_collapse.enabled) {
    const std::string source = options.config_source + " entropy_collapse.run";
    const json& base = options.entropy_collapse.run;
    const uint64_t first_seed = experiment_run_config(base, {}, source, options.out_dir).train.seed;
    const double lr = options.entropy_collapse.lr;
    for (const std::string& variant : kReparamVariants)
      for (int64_t s = 0; s < options.entropy_collapse.seeds; ++s) {
        const uint64_t seed = first_seed + static_cast<uint64_t>(s);
        const json changes = {{"model", {{"sigma_reparam", variant == "sigma_reparam"}}},
                              {"optimizer", {{"lr", lr}}},
                              {"train", {{"seed", seed}}}};
        runs.push_back(experiment_run_config(base, changes, source, runs_dir + run_folder(variant, lr, seed)));
      }
  }
  return runs;
}

StabilityRun read_stability_run(const TrainedRun& trained, const std::string& variant, double lr) {
  StabilityRun r{.variant = variant, .lr = lr, .seed = trained.config.train.seed, .diverged_step = trained.diverged_step};
  const CurvePoint& last = trained.curve.back();
  r.final_eval_loss = last.eval_loss;
  r.final_accuracy = last.eval_accuracy;
  const fs::path probes_path = fs::path(trained.run_dir) / "probes.jsonl";
  const ProbesTable probes = fs::exists(probes_path) ? read_probes_jsonl(probes_path.string()) : ProbesTable{};
  for (const ProbesTable::Row& row : probes.rows) {
    r.steps.push_back(row.step);
    // The largest over every layer and head; NaN (a non-finite logit) wins, as it should.
    double largest = -std::numeric_limits<double>::infinity();
    for (double logit : row.max_logits) largest = std::isnan(logit) || std::isnan(largest) ? kNaN : std::max(largest, logit);
    r.max_logit.push_back(largest);
    std::vector<double> entropy;
    for (size_t h = 0; h < probes.heads(); ++h) entropy.push_back(row.attention[4 * h]);  // train/run_logs.h order
    r.head_entropy.push_back(entropy);
  }
  r.initial_max_logit = r.max_logit.empty() ? kNaN : r.max_logit.front();
  r.final_max_logit = r.max_logit.empty() ? kNaN : r.max_logit.back();
  r.peak_max_logit = kNaN;
  for (double m : r.max_logit)
    if (!std::isnan(m)) r.peak_max_logit = std::isnan(r.peak_max_logit) ? m : std::max(r.peak_max_logit, m);
  r.final_min_entropy = r.final_mean_entropy = kNaN;
  if (!r.head_entropy.empty() && !r.head_entropy.back().empty()) {
    const std::vector<double>& e = r.head_entropy.back();
    r.final_min_entropy = *std::min_element(e.begin(), e.end());
    double total = 0;
    for (double v : e) total += v;
    r.final_mean_entropy = total / static_cast<double>(e.size());
  }
  return r;
}

std::string logit_growth_verdict(const std::vector<StabilityRun>& runs, double chance_loss) {
  const std::vector<double> lrs = lrs_of(runs);
  if (lrs.empty()) return "";
  const double low = lrs.front(), high = lrs.back();
  const double plain_low = median_of(runs_of(runs, "scaled_dot", low), &StabilityRun::peak_max_logit);
  const double plain_high = median_of(runs_of(runs, "scaled_dot", high), &StabilityRun::peak_max_logit);
  const double norm_high = median_of(runs_of(runs, "qk_norm", high), &StabilityRun::peak_max_logit);
  // A diverged run's logits ran off to infinity: its peak is NaN, and it counts as growth.
  const bool plain_high_diverged = diverged_count(runs_of(runs, "scaled_dot", high)) > 0;
  const bool logits_grow = plain_high_diverged || (plain_high >= kLogitGrowthFactor * plain_low && plain_high > norm_high);
  const std::vector<double> plain_usable = usable_lrs(runs, "scaled_dot"), norm_usable = usable_lrs(runs, "qk_norm");
  const double plain_sens = lr_sensitivity(runs, "scaled_dot", chance_loss);
  const double norm_sens = lr_sensitivity(runs, "qk_norm", chance_loss);
  const bool widens = norm_usable.size() > plain_usable.size() || (norm_usable.size() == plain_usable.size() && norm_sens < plain_sens);
  const int64_t plain_diverged = diverged_count(runs_of(runs, "scaled_dot", kNaN));
  const int64_t norm_diverged = diverged_count(runs_of(runs, "qk_norm", kNaN));

  std::ostringstream os;
  os << "**Logit growth and QK-norm** (Wortsman et al. 2023; Dehghani et al. 2023). Claim: without QK-norm the "
        "largest attention logit grows with the learning rate and training fails at high rates; with QK-norm the "
        "usable range widens. **This run "
     << (logits_grow && widens ? "supports it" : logits_grow || widens ? "supports it in part" : "does not support it")
     << ".** Peak max logit over training (median over seeds) without QK-norm: " << report_number(plain_low)
     << " at lr " << lr_text(low) << ", " << (std::isnan(plain_high) ? std::string("non-finite") : report_number(plain_high))
     << " at lr " << lr_text(high) << "; with QK-norm " << report_number(norm_high) << " at lr " << lr_text(high) << " ("
     << (logits_grow ? "the logits grow" : "no growth by the factor of " + report_number(kLogitGrowthFactor) + " the claim needs")
     << "). Rates where every seed reaches " << report_number(kSolvedAccuracy) << " held-out accuracy without diverging: "
     << list_text(plain_usable) << " without QK-norm, " << list_text(norm_usable) << " with it; learning-rate sensitivity "
     << report_number(plain_sens) << " against " << report_number(norm_sens) << " ("
     << (widens ? "QK-norm widens the usable range" : "QK-norm does not widen it here") << "). Diverged runs: "
     << plain_diverged << " without QK-norm, " << norm_diverged << " with it.";
  return os.str();
}

std::string entropy_collapse_verdict(const std::vector<StabilityRun>& runs, double ln_keys) {
  const auto plain = runs_of(runs, "plain", kNaN), reparam = runs_of(runs, "sigma_reparam", kNaN);
  if (plain.empty() || reparam.empty()) return "";
  const double floor = kCollapsedEntropyFraction * ln_keys;
  const double plain_min = median_of(plain, &StabilityRun::final_min_entropy);
  const double reparam_min = median_of(reparam, &StabilityRun::final_min_entropy);
  const double plain_loss = median_of(plain, &StabilityRun::final_eval_loss);
  const double reparam_loss = median_of(reparam, &StabilityRun::final_eval_loss);
  const int64_t plain_diverged = diverged_count(plain), reparam_diverged = diverged_count(reparam);
  const bool plain_collapses = plain_diverged > 0 || plain_min < floor;
  const bool reparam_holds = reparam_diverged == 0 && reparam_min >= floor;
  const double plain_accuracy = median_of(plain, &StabilityRun::final_accuracy);

  std::ostringstream os;
  os << "**Attention entropy collapse and σReparam** (Zhai et al. 2023). Claim: at a high learning rate attention "
        "entropy collapses towards zero in some heads, and σReparam prevents it. **This run "
     << (plain_collapses && reparam_holds ? "supports it" : plain_collapses || reparam_holds ? "supports it in part"
                                                                                             : "does not support it")
     << ".** At lr " << lr_text(plain.front()->lr) << ", the lowest head's final entropy (median over seeds) is "
     << report_number(plain_min) << " nats without σReparam and " << report_number(reparam_min) << " with it (ln N = "
     << report_number(ln_keys) << "; collapsed below " << report_number(floor) << "); final held-out loss "
     << report_number(plain_loss) << " against " << report_number(reparam_loss) << "; diverged runs " << plain_diverged
     << " of " << plain.size() << " against " << reparam_diverged << " of " << reparam.size() << ".";
  if (plain_collapses && plain_diverged == 0 && plain_accuracy >= kSolvedAccuracy)
    os << " The runs without σReparam still solve the task (median accuracy " << report_number(plain_accuracy)
       << "): their low entropy may be the sharp attention the task asks for rather than a failure.";
  return os.str();
}

namespace {
Table runs_table(const std::vector<StabilityRun>& runs) {
  Table t({"variant", "lr", "seed", "final_eval_loss", "final_accuracy", "diverged_step", "initial_max_logit",
           "peak_max_logit", "final_max_logit", "final_min_head_entropy", "final_mean_head_entropy"});
  for (const StabilityRun& r : runs)
    t.add_row({r.variant, r.lr, static_cast<int64_t>(r.seed), r.final_eval_loss, r.final_accuracy, r.diverged_step,
               r.initial_max_logit, r.peak_max_logit, r.final_max_logit, r.final_min_entropy, r.final_mean_entropy});
  return t;
}

// Per (scorer, lr) over seeds: what the loss-against-rate plot draws. A rate where a seed
// diverged is drawn at the chance loss, the top of the plot.
Table lr_table(const std::vector<StabilityRun>& runs, double chance_loss) {
  Table t({"variant", "lr", "median_final_eval_loss", "plotted_loss", "median_peak_max_logit", "diverged", "usable"});
  for (const std::string& scorer : kScorers)
    for (double lr : lrs_of(runs)) {
      const auto at = runs_of(runs, scorer, lr);
      if (at.empty()) continue;
      const double loss = median_of(at, &StabilityRun::final_eval_loss);
      const int64_t diverged = diverged_count(at);
      const bool all_usable = std::all_of(at.begin(), at.end(), [](const StabilityRun* r) { return usable(*r); });
      t.add_row({scorer, lr, loss, diverged > 0 || std::isnan(loss) ? chance_loss : std::min(loss, chance_loss),
                 median_of(at, &StabilityRun::peak_max_logit), diverged, std::string(all_usable ? "yes" : "no")});
    }
  return t;
}

// One row per probe step of a run: step and max logit (part 1) or per-head entropy (part 2).
Table curve_of(const StabilityRun& r, bool entropy) {
  std::vector<std::string> columns{"step", entropy ? "mean_entropy" : "max_logit"};
  const size_t heads = r.head_entropy.empty() ? 0 : r.head_entropy.front().size();
  if (entropy)
    for (size_t h = 0; h < heads; ++h) columns.push_back("head" + std::to_string(h) + "_entropy");
  Table t(columns);
  for (size_t i = 0; i < r.steps.size(); ++i) {
    std::vector<Table::Cell> row{r.steps[i]};
    if (entropy) {
      double total = 0;
      for (double e : r.head_entropy[i]) total += e;
      row.push_back(total / static_cast<double>(std::max<size_t>(heads, 1)));
      for (double e : r.head_entropy[i]) row.push_back(e);
    } else {
      row.push_back(r.max_logit[i]);
    }
    t.add_row(row);
  }
  return t;
}

std::string curve_stem(const StabilityRun& r) { return "curve_" + run_folder(r.variant, r.lr, r.seed); }

void plot_logit_growth(const std::string& dir, const std::vector<StabilityRun>& runs, double chance_loss,
                       std::vector<std::string>& images) {
  std::ostringstream loss;
  loss << "set logscale x\nset xlabel 'learning rate'\nset ylabel 'final held-out loss (median over seeds)'\n"
       << "set title 'Final loss against learning rate (diverged: drawn at the chance loss "
       << report_number(chance_loss) << ")'\nset key top left\nplot ";
  for (size_t i = 0; i < kScorers.size(); ++i)
    loss << (i ? ", " : "") << gnuplot_string("lr_sweep.csv") << " every ::1 using 2:(strcol(1) eq "
         << gnuplot_string(kScorers[i]) << " ? $4 : 1/0) with linespoints lw 2 pt 7 lc rgb '" << line_color(i)
         << "' title " << gnuplot_string(kScorers[i]);
  if (render_plot(dir + "/loss_vs_lr", loss.str() + "\n", 900, 600)) images.push_back("loss_vs_lr.png");

  // Max logit over training: one panel per scorer, a line per learning rate (first seed).
  const std::vector<double> lrs = lrs_of(runs);
  std::ostringstream logit;
  logit << "set multiplot layout 1,2\nset logscale y\nset xlabel 'step'\nset ylabel 'max attention logit'\n"
        << "set key top left\n";
  for (const std::string& scorer : kScorers) {
    logit << "set title " << gnuplot_string(scorer + " (first seed)") << "\nplot ";
    bool first = true;
    for (size_t i = 0; i < lrs.size(); ++i)
      for (const StabilityRun* r : runs_of(runs, scorer, lrs[i])) {
        logit << (first ? "" : ", ") << gnuplot_string(curve_stem(*r) + ".csv") << " every ::1 using 1:2 with lines lw 2 lc rgb '"
              << line_color(i) << "' title " << gnuplot_string("lr " + lr_text(lrs[i]));
        first = false;
        break;
      }
    logit << "\n";
  }
  logit << "unset multiplot\n";
  if (render_plot(dir + "/max_logit", logit.str(), 1400, 600)) images.push_back("max_logit.png");
}

void plot_entropy(const std::string& dir, const std::vector<StabilityRun>& runs, double ln_keys,
                  std::vector<std::string>& images) {
  std::ostringstream os;
  os << "set multiplot layout 1,2\nset xlabel 'step'\nset ylabel 'attention entropy (nats)'\nset yrange [0:"
     << ln_keys * 1.05 << "]\nset key top right\n";
  for (const std::string& variant : kReparamVariants) {
    const auto of = runs_of(runs, variant, kNaN);
    if (of.empty()) continue;
    const StabilityRun& r = *of.front();
    os << "set title " << gnuplot_string(variant + ", lr " + lr_text(r.lr) + ", seed " + std::to_string(r.seed)) << "\nplot ";
    const size_t heads = r.head_entropy.empty() ? 0 : r.head_entropy.front().size();
    for (size_t h = 0; h < heads; ++h)
      os << (h ? ", " : "") << gnuplot_string(curve_stem(r) + ".csv") << " every ::1 using 1:" << h + 3
         << " with lines lw 2 lc rgb '" << line_color(h) << "' title " << gnuplot_string("head " + std::to_string(h));
    os << "\n";
  }
  os << "unset multiplot\n";
  if (render_plot(dir + "/entropy", os.str(), 1400, 600)) images.push_back("entropy.png");
}

std::string run_description(const RunConfig& c) {
  std::ostringstream os;
  os << "task `" << c.task.name << "` (" << c.task.options.dump() << "), a " << c.model.layers
     << "-layer pre-LN transformer with d_model " << c.model.d_model << ", " << c.model.heads << " heads of width "
     << c.model.d_head << ", " << enum_name(c.optimizer.name) << " (" << enum_name(c.schedule.name) << " schedule), batch "
     << c.train.batch_size << ", " << c.train.steps << " steps; held-out loss and accuracy every "
     << c.train.eval_interval << " steps, attention statistics (probes.jsonl) at the same steps over the training batch";
  return os.str();
}
}  // namespace

StabilityResult run_stability_experiment(const StabilityOptions& options, std::ostream& log) {
  const std::string dir = options.out_dir;
  const std::vector<RunConfig> cells = stability_training_runs(options);
  const TrainingSweep sweep(cells);
  StabilityResult result;
  if (!dist::is_root()) return result;
  fs::create_directories(dir);
  std::vector<std::string> images;
  std::ostringstream tables;
  size_t cell = 0;

  if (options.logit_growth.enabled) {
    double chance_loss = 0;
    for (const std::string& scorer : kScorers)
      for (double lr : options.logit_growth.lrs)
        for (int64_t s = 0; s < options.logit_growth.seeds; ++s, ++cell) {
          TrainedRun trained = sweep.take(cell);
          chance_loss = -std::log(trained.chance_accuracy);
          result.logit_growth.push_back(read_stability_run(trained, scorer, lr));
          const StabilityRun& r = result.logit_growth.back();
          curve_of(r, false).save(dir + "/" + curve_stem(r));
          log << "logit growth " << scorer << " lr " << lr_text(lr) << " seed " << r.seed << ": loss "
              << r.final_eval_loss << ", peak max logit " << r.peak_max_logit
              << (r.diverged_step >= 0 ? ", diverged at step " + std::to_string(r.diverged_step) : std::string()) << "\n";
        }
    runs_table(result.logit_growth).save(dir + "/logit_growth");
    const Table per_lr = lr_table(result.logit_growth, chance_loss);
    per_lr.save(dir + "/lr_sweep");
    plot_logit_growth(dir, result.logit_growth, chance_loss, images);
    result.verdicts.logit_growth = logit_growth_verdict(result.logit_growth, chance_loss);
    tables << "## 1. Logit growth and QK-norm\n\n"
           << "Each run: " << run_description(cells.front()) << ". The sweep trains `scaled_dot` (q.k / sqrt(d_k)) and "
           << "`qk_norm` (cosine of q and k times a learned g per head, from sqrt(d_k)) at each learning rate, "
           << options.logit_growth.seeds << " seed(s) each. The max logit is the largest attention score (before the "
           << "softmax) of any query, layer and head in the probed batch. \"Usable\": every seed ends with held-out "
           << "accuracy >= " << report_number(kSolvedAccuracy) << " without diverging. Learning-rate sensitivity "
           << "(Wortsman et al. 2023) is the mean over rates of min(loss, chance loss) minus the best loss, with the "
           << "chance loss (" << report_number(chance_loss) << ", a uniform guess) for a rate where a seed diverged.\n\n"
           << "Per rate (`lr_sweep.csv`):\n\n" << per_lr.markdown() << "\nEvery run (`logit_growth.csv`):\n\n"
           << runs_table(result.logit_growth).markdown() << "\n";
    for (const std::string& img : images) tables << "![" << img << "](" << img << ")\n\n";
  }

  if (options.entropy_collapse.enabled) {
    double ln_keys = 0;
    for (const std::string& variant : kReparamVariants)
      for (int64_t s = 0; s < options.entropy_collapse.seeds; ++s, ++cell) {
        TrainedRun trained = sweep.take(cell);
        ln_keys = std::log(static_cast<double>(trained.task->seq_len()));
        result.entropy_collapse.push_back(read_stability_run(trained, variant, options.entropy_collapse.lr));
        const StabilityRun& r = result.entropy_collapse.back();
        curve_of(r, true).save(dir + "/" + curve_stem(r));
        log << "entropy collapse " << variant << " seed " << r.seed << ": loss " << r.final_eval_loss
            << ", lowest head entropy " << r.final_min_entropy
            << (r.diverged_step >= 0 ? ", diverged at step " + std::to_string(r.diverged_step) : std::string()) << "\n";
      }
    runs_table(result.entropy_collapse).save(dir + "/entropy_collapse");
    std::vector<std::string> entropy_images;
    plot_entropy(dir, result.entropy_collapse, ln_keys, entropy_images);
    result.verdicts.entropy_collapse = entropy_collapse_verdict(result.entropy_collapse, ln_keys);
    tables << "## 2. Attention entropy collapse and σReparam\n\n"
           << "Each run: " << run_description(cells.at(cell - 1)) << ", at lr " << lr_text(options.entropy_collapse.lr)
           << ", " << options.entropy_collapse.seeds << " seed(s), without (`plain`) and with `model.sigma_reparam` "
           << "(every attention and feed-forward weight used as (gamma / sigma(W)) W, sigma by one power-iteration step "
           << "per training step, gamma learned from sigma(W) at initialisation). Entropy per head (layer-major: "
           << "head 0 to H-1 are layer 0's) of the attention rows of the probed training batch, averaged over rows; "
           << "uniform attention over N = " << std::lround(std::exp(ln_keys)) << " keys has ln N = "
           << report_number(ln_keys) << " nats. Per-step curves: `curve_<variant>_lr<lr>_seed<seed>.csv`.\n\n"
           << runs_table(result.entropy_collapse).markdown() << "\n";
    for (const std::string& img : entropy_images) tables << "![" << img << "](" << img << ")\n\n";
  }

  std::ostringstream md;
  md << "# Training stability: logit growth and entropy collapse, at toy scale\n\n";
  for (const std::string* verdict : {&result.verdicts.logit_growth, &result.verdicts.entropy_collapse})
    if (!verdict->empty()) md << *verdict << "\n\n";
  md << "Generated by `stability` from `" << options.config_source << "`; every figure below was computed by this run. "
     << "Each training is an ordinary run folder under `runs/` (`train --eval`, `plot_runs` work on it); a run whose "
     << "loss or gradient stopped being finite ended there and is reported as diverged.\n\n"
     << tables.str();
  if (!gnuplot_available()) {
    log << "gnuplot not found: wrote the data and the gnuplot scripts, but no PNGs\n";
    md << "_gnuplot was not found: the data and the gnuplot scripts (`*.gp`) are written, the PNGs are not._\n";
  }
  write_file_atomically(dir + "/report.md", md.str());
  return result;
}

}  // namespace qkv
