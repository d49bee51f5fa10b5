// qkv's speed benchmark. One workload per run, so that peak memory is the workload's own:
//   peak        float32 FMA throughput of this machine (the ceiling for everything else)
//   matmul      GFLOP/s of matmul at square and model-shaped sizes
// (--precision bf16 runs matmul, flex, attention and CONFIG with bf16 operands,
// core/precision.h)
//   kernels     qkv's matmul and each of its kernels (direct_gemm, packed_gemm, and Eigen's
//               GEMM for reference) against OpenBLAS, BLIS and oneDNN, on square sizes and
//               on every product of the benchmark models (bench/kernels.cpp)
//   attention   softmax(q k^T / sqrt(d)) v forward plus backward, q, k, v [8, 8, 256, 64]
//   attention_weights
//               the same, keeping the [8, 8, 256, 256] weights (need_weights): the unfused
//               path, which is what PyTorch's twin computes in both cases
//   flex        each attention variant forward plus backward, q, k, v [8, 8, 512, 64]: the
//               fused kernel (flex_attention) against the composed path, which stores the
//               scores (the unmasked and causal scaled dot product, relative bias, ALiBi,
//               softcap, a sliding window, grouped-query heads, a user's score_mod,
//               four causal documents of 128 packed in one sequence)
//   flex_memory the fused causal forward plus backward at --seq N keys, q, k, v [1, 8, N, 64]:
//               peak memory grows linearly in N (run it at several N)
// (--against-float32 with CONFIG alternates float32 steps with the --precision ones)
//   CONFIG      a full training step (zero grad, forward, backward, Adam) of the benchmark
//               model described by a JSON file in configs/bench/ (tiny, small, medium, wide,
//               long, heads16; bench/compare.py --sweep writes a grid of them); under `mpirun -np N`, a
//               data-parallel step: each rank its 1/N of the batch, the gradients summed
//               over ranks (dist/data_parallel.h) before Adam, and the time and bytes of
//               that allreduce reported beside the step's
// Each prints one JSON line per measurement. bench/compare.py runs this beside PyTorch's
// twin (bench/torch_bench.py) and prints the side-by-side table.
#include <qkv.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <nlohmann/json.hpp>

#include "bench/fma_peak.h"
#include "bench/kernels.h"
#include "bench/model_size.h"
#include "bench/timing.h"
#include "core/ops/gemm_dispatch.h"
#include "examples/distance_penalty.h"

namespace {
using qkv_bench::Timing;
using qkv_bench::time_it;
using qkv_bench::ModelSize;
using qkv_bench::read_size;
using qkv_bench::step_flops;

// The process's peak resident memory (VmHWM). Not getrusage's ru_maxrss, which a process
// started by exec inherits from its parent (a Python driver with torch loaded).
double status_mb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind(field, 0) == 0) return std::stod(line.substr(field.size())) / 1024.0;  // in kB
  return 0;
}
double peak_rss_mb() { return status_mb("VmHWM:"); }
double rss_mb() { return status_mb("VmRSS:"); }

void print(const nlohmann::json& line) { std::printf("%s\n", line.dump().c_str()); }

// What the step's products ran in: float32 also under --precision bf16 where bf16 does not
// pay on this CPU.
std::string product_precision() {
  return qkv::matmul_precision() == qkv::Precision::bf16 && qkv::kernels::bf16_pays() ? "bf16" : "float32";
}
// The same for the fused attention's products (qkv::attention_product_precision).
nlohmann::json attention_precision(int64_t keys, int64_t d_k, int64_t d_v) {
  const qkv::AttentionProductPrecision precision = qkv::attention_product_precision(keys, d_k, d_v);
  return {{"scores", qkv::enum_name(precision.scores)}, {"heads", qkv::enum_name(precision.heads)}};
}

// against_float32: float32 steps alternate with the steps in the scope's precision, and the
// line adds float32's median and the median of the pairs' speed-ups.
void bench_training_step(const std::string& config, int64_t warmup, int64_t repeats, bool against_float32) {
  const ModelSize s = read_size(config);
  const int ranks = qkv::dist::size();
  if (s.batch % ranks != 0)
    throw std::runtime_error(config + ": train.batch " + std::to_string(s.batch) + " does not split evenly over " +
                             std::to_string(ranks) + " ranks");
  const int64_t rows = s.batch / ranks;
  const double baseline_mb = rss_mb();  // the program and its libraries, as PyTorch's after `import torch`
  qkv::Generator gen(s.seed);
  qkv::SequenceModel model({.vocab_size = s.vocab, .num_classes = s.vocab, .max_len = s.seq_len, .d_model = s.d_model,
                            .heads = s.heads, .layers = s.layers, .d_ff = 4 * s.d_model, .positional = qkv::PositionKind::sinusoidal,
                            .scorer = {.kind = "scaled_dot"}, .causal = s.causal},
                           gen);
  qkv::Adam optimizer(model.named_parameters(), qkv::AdamOptions{.lr = s.lr});
  const double model_mb = rss_mb();
  const int64_t tokens = s.batch * s.seq_len;  // over all ranks
  std::vector<qkv::Tensor> parameters;
  for (auto& [name, p] : model.named_parameters()) parameters.push_back(p);
  qkv::dist::GradientReducer reducer(parameters);
  auto random_ids = [&] {
    qkv::Indices ids{.values = std::vector<int64_t>(rows * s.seq_len), .shape = {rows, s.seq_len}};
    for (int64_t& id : ids.values) id = static_cast<int64_t>(gen.uniform() * static_cast<double>(s.vocab)) % s.vocab;
    return ids;
  };
  const auto step = [&] {
    const qkv::Indices input = random_ids(), targets = random_ids();
    optimizer.zero_grad();
    qkv::Tensor loss = qkv::cross_entropy(model.forward(input).logits, targets);
    loss.backward();
    if (ranks > 1) reducer.sum_weighted(1.0 / ranks);
    optimizer.step();
  };
  Timing t;
  nlohmann::json paired;
  if (against_float32) {
    const auto float32_step = [&] {
      const qkv::PrecisionScope float32(qkv::Precision::float32);
      step();
    };
    const qkv_bench::PairedTiming p = qkv_bench::time_pairs(warmup, repeats, float32_step, step);
    t = p.b;
    paired = {{"float32_median_ms", p.a.median_ms}, {"float32_min_ms", p.a.min_ms}, {"speedup_paired", p.median_ratio}};
  } else {
    t = time_it(warmup, repeats, step);
  }
  // Rank 0's own allreduce time, warm-up steps included, per step.
  const double steps = static_cast<double>((t.warmup_runs + repeats) * (against_float32 ? 2 : 1));
  const double allreduce_ms = qkv::dist::seconds_in_allreduce() * 1e3 / steps;
  if (!qkv::dist::is_root()) return;
  nlohmann::json line{{"workload", config}, {"precision", qkv::enum_name(qkv::matmul_precision())}, {"products", product_precision()}, {"attention_products", attention_precision(s.seq_len, s.d_model / s.heads, s.d_model / s.heads)}, {"ranks", ranks}, {"threads", qkv::num_threads()}, {"median_ms", t.median_ms}, {"min_ms", t.min_ms},
         {"allreduce_ms_per_step", ranks > 1 ? allreduce_ms : 0.0},
         {"allreduce_bytes_per_step", ranks > 1 ? reducer.bytes_per_step() : 0}, {"buckets", reducer.buckets()},
         {"tokens_per_s", static_cast<double>(tokens) / (t.median_ms / 1e3)}, {"flops", step_flops(s)},
         {"parameters", model.parameter_count()}, {"peak_rss_mb", peak_rss_mb()}, {"baseline_rss_mb", baseline_mb}, {"model_rss_mb", model_mb}};
  if (against_float32) line.update(paired);
  if (qkv::matmul_precision() == qkv::Precision::bf16) {  // the rates that decided `products`
    const qkv::kernels::Bf16Rates& rates = qkv::kernels::measured_bf16_rates();
    line["bf16_check_gflops"] = {{"float32", rates.float32_gflops}, {"bf16", rates.bf16_gflops}};
  }
  print(line);
}

// ---- attention ----

void bench_attention(int64_t warmup, int64_t repeats, bool need_weights) {
  const double baseline_mb = rss_mb();
  const qkv::Shape shape{8, 8, 256, 64};
  qkv::Generator gen(0);
  qkv::Tensor q = qkv::Tensor::randn(shape, gen).requires_grad_();
  qkv::Tensor k = qkv::Tensor::randn(shape, gen).requires_grad_();
  qkv::Tensor v = qkv::Tensor::randn(shape, gen).requires_grad_();
  const qkv::Tensor g = qkv::Tensor::randn(shape, gen);
  qkv::ScaledDotScorer scorer;  // 1 / sqrt(64) = 1 / 8
  const Timing t = time_it(warmup, repeats, [&] {
    for (qkv::Tensor* x : {&q, &k, &v}) x->zero_grad();
    const qkv::AttentionResult out = qkv::attention(q, k, v, scorer, {.need_weights = need_weights});
    qkv::sum(qkv::mul(out.output, g)).backward();
  });
  // q k^T and weights v: 2 N^2 d each forward; backward twice that.
  const double flops = 3.0 * 2 * (2.0 * 256 * 256 * 64) * 64;
  print({{"workload", need_weights ? "attention_weights" : "attention"}, {"threads", qkv::num_threads()}, {"attention_products", attention_precision(shape[2], shape.back(), shape.back())},
         {"median_ms", t.median_ms}, {"min_ms", t.min_ms}, {"flops", flops}, {"peak_rss_mb", peak_rss_mb()},
         {"baseline_rss_mb", baseline_mb}});
}

// ---- flex attention: every variant fused and composed ----

struct FlexVariant {
  std::string name;
  std::shared_ptr<qkv::Scorer> scorer;
  qkv::AttendOptions options;
  int64_t kv_heads = 8;
};

std::vector<FlexVariant> flex_variants() {
  qkv::Generator gen(1);
  const qkv::ScorerOptions base{.heads = 8, .d_q = 64, .d_k = 64};
  auto scorer = [&](qkv::ScorerOptions o) { return qkv::make_scorer(o, gen); };
  qkv::ScorerOptions relative = base, alibi = base, softcap = base;
  relative.relative_bias = {.kind = qkv::RelativeBiasKind::t5, .num_buckets = 32, .max_distance = 128, .init_stddev = 0.1};
  alibi.position = qkv::PositionKind::alibi;
  softcap.softcap = 5;
  qkv::AttendOptions causal;
  causal.causal = true;
  qkv::AttendOptions window = causal;
  window.mask_mod = qkv::sliding_window_mask(128, true);
  std::vector<int64_t> documents;
  for (int64_t i = 0; i < 512; ++i) documents.push_back(i / 128);
  qkv::AttendOptions packed_documents;
  packed_documents.mask_mod = qkv::document_mask(documents, true);
  auto user = std::make_shared<qkv::ScoreModScorer>(std::make_shared<qkv::ScaledDotScorer>(),
                                                    std::make_shared<DistancePenalty>(8));
  return {{"none", scorer(base), {}},
          {"causal", scorer(base), causal},
          {"relative_bias", scorer(relative), {}},
          {"alibi", scorer(alibi), causal},
          {"softcap", scorer(softcap), {}},
          {"sliding_window", scorer(base), window},
          {"gqa", scorer(base), {}, 2},
          {"user_score_mod", user, {}},
          {"document", scorer(base), packed_documents}};
}

// Both paths do the same six [512 x 512 x 64] products per head (two forward, four
// backward), so their rates in GFLOP/s over those products compare directly with the
// machine's FMA peak (`qkv_bench peak`): where no key is masked, neither can run faster
// than the peak allows.
void bench_flex(int64_t warmup, int64_t repeats, const std::string& only) {
  qkv::Generator gen(0);
  const double products_gflop = 6 * 2.0 * 512 * 512 * 64 * 64 / 1e9;
  bool found = false;
  for (FlexVariant& variant : flex_variants()) {
    if (!only.empty() && variant.name != only) continue;
    found = true;
    qkv::Tensor q = qkv::Tensor::randn({8, 8, 512, 64}, gen).requires_grad_();
    qkv::Tensor k = qkv::Tensor::randn({8, variant.kv_heads, 512, 64}, gen).requires_grad_();
    qkv::Tensor v = qkv::Tensor::randn({8, variant.kv_heads, 512, 64}, gen).requires_grad_();
    const qkv::Tensor g = qkv::Tensor::randn(q.shape(), gen);
    auto step = [&](bool composed) {
      return [&, composed] {
        for (qkv::Tensor* x : {&q, &k, &v}) x->zero_grad();
        variant.scorer->zero_grad();
        qkv::AttendOptions options = variant.options;
        options.need_weights = composed;
        qkv::attention(q, k, v, *variant.scorer, options).output.backward(g);
      };
    };
    const Timing fused = time_it(warmup, repeats, step(false)), composed = time_it(warmup, repeats, step(true));
    print({{"workload", "flex"}, {"variant", variant.name}, {"threads", qkv::num_threads()},
           {"attention_products", attention_precision(k.size(-2), q.size(-1), v.size(-1))},
           {"fused_ms", fused.median_ms}, {"composed_ms", composed.median_ms},
           {"fused_over_composed", fused.median_ms / composed.median_ms},
           {"fused_dense_gflops", products_gflop / fused.median_ms * 1e3},
           {"composed_dense_gflops", products_gflop / composed.median_ms * 1e3}});
  }
  if (!found) throw std::invalid_argument("flex: no variant named '" + only + "'");
}

void bench_flex_memory(int64_t n) {
  qkv::Generator gen(0);
  qkv::Tensor q = qkv::Tensor::randn({1, 8, n, 64}, gen).requires_grad_();
  qkv::Tensor k = qkv::Tensor::randn({1, 8, n, 64}, gen).requires_grad_();
  qkv::Tensor v = qkv::Tensor::randn({1, 8, n, 64}, gen).requires_grad_();
  const double before = peak_rss_mb();
  qkv::ScaledDotScorer scorer;
  qkv::AttendOptions causal;
  causal.causal = true;
  qkv::sum(qkv::attention(q, k, v, scorer, causal).output).backward();
  print({{"workload", "flex_memory"}, {"seq", n}, {"inputs_mb", 3.0 * 8 * n * 64 * sizeof(qkv::Scalar) / 1e6},
         {"peak_rss_mb_before", before}, {"peak_rss_mb", peak_rss_mb()},
         {"scores_mb_if_stored", 8.0 * n * n * sizeof(qkv::Scalar) / 1e6}});
}

// ---- matmul ----

void bench_matmul(int64_t repeats) {
  const std::vector<std::array<int64_t, 3>> sizes{{256, 256, 256},   {512, 512, 512},  {1024, 1024, 1024},
                                                  {2048, 2048, 2048}, {2048, 256, 256}, {2048, 256, 1024},
                                                  {2048, 1024, 256},  {2048, 128, 128}, {2048, 128, 512},
                                                  {2048, 512, 128},   {256, 64, 256}};
  qkv::Generator gen(0);
  qkv::NoGradGuard no_grad;
  qkv_bench::WarmupOnce warmup;
  for (const auto& [m, k, n] : sizes) {
    const qkv::Tensor a = qkv::Tensor::randn({m, k}, gen), b = qkv::Tensor::randn({k, n}, gen);
    const double flops = 2.0 * static_cast<double>(m * k * n);
    const int64_t reps = std::max<int64_t>(5, static_cast<int64_t>(repeats * 2e9 / flops / 10));
    const Timing t = time_it(2, reps, [&] { qkv::matmul(a, b); }, warmup.seconds());
    print({{"workload", "matmul"}, {"precision", qkv::enum_name(qkv::matmul_precision())}, {"m", m}, {"k", k}, {"n", n}, {"threads", qkv::num_threads()},
           {"median_ms", t.median_ms}, {"gflops", flops / (t.median_ms * 1e6)}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  qkv::dist::MpiSession mpi(argc, argv);
  std::string workload;
  int64_t warmup = 5, repeats = 30, threads = 0, seq = 2048;
  std::string variant;
  CLI::App app{"qkv's speed benchmark: one workload per run, one JSON line per measurement."};
  app.add_option("workload", workload,
                 "peak, matmul, kernels, attention, attention_weights, flex, flex_memory, or a config of configs/bench/")
      ->required();
  app.add_option("--warmup", warmup, "untimed runs first")->capture_default_str();
  app.add_option("--repeats", repeats, "timed runs (their median is reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--seq", seq, "flex_memory: keys and queries")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--variant", variant, "flex: only this variant (all when empty)");
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")->capture_default_str();
  std::string precision = "float32";
  app.add_option("--precision", precision, "matrix products in float32, or bf16 operands with float32 sums (matmul, attention, flex, CONFIG)")
      ->capture_default_str()->check(CLI::IsMember({"float32", "bf16"}));
  std::string configs = QKV_BENCH_CONFIGS;
  std::vector<std::string> anchors{"openblas", "blis", "onednn"};
  app.add_option("--configs", configs, "kernels: the folder of benchmark model configs whose products are timed")
      ->capture_default_str()->check(CLI::ExistingDirectory);
  app.add_option("--anchors", anchors, "kernels: the GEMM libraries to time beside qkv (openblas, blis, onednn)")
      ->capture_default_str();
  bool against_float32 = false;
  app.add_flag("--against-float32", against_float32,
               "CONFIG: float32 steps alternate with the --precision ones in this process; adds float32_median_ms "
               "and speedup_paired (the median over pairs of float32's time over the other's)");
  CLI11_PARSE(app, argc, argv);
  try {
    const std::vector<std::string> named{"peak", "matmul", "kernels", "flex", "flex_memory", "attention", "attention_weights"};
    if (against_float32 && std::find(named.begin(), named.end(), workload) != named.end())
      throw std::invalid_argument("--against-float32 times training steps: it needs a config of configs/bench/, got " +
                                  workload);
    if (threads > 0) qkv::set_num_threads(static_cast<int>(threads));
    const qkv::PrecisionScope scope(qkv::parse_enum<qkv::Precision>(precision, "--precision"));
    // matmul times the bf16 kernel itself, on any CPU; a training step does what train does
    // (bf16 products only where they pay, core/ops/gemm_dispatch.h).
    if (workload == "matmul" && qkv::matmul_precision() == qkv::Precision::bf16) qkv::kernels::set_bf16_pays(true);
    if (workload == "peak") {
      print({{"workload", "peak"}, {"threads", qkv::num_threads()}, {"gflops", qkv_bench::fma_peak_gflops(qkv::num_threads())},
             {"vector", qkv_bench::fma_vector_name()}});
    } else if (workload == "matmul") {
      bench_matmul(repeats);
    } else if (workload == "kernels") {
      qkv_bench::bench_kernels(repeats, configs, anchors);
    } else if (workload == "flex") {
      bench_flex(warmup, repeats, variant);
    } else if (workload == "flex_memory") {
      bench_flex_memory(seq);
    } else if (workload == "attention" || workload == "attention_weights") {
      bench_attention(warmup, repeats, workload == "attention_weights");
    } else {
      bench_training_step(workload, warmup, repeats, against_float32);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qkv_bench: %s\n", e.what());
    return 1;
  }
}
