// The trainer's parts, each against values worked out by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <csignal>
#include <fstream>
#include <sstream>

#include "qkv.h"
#include "train_test_util.h"

using namespace qkv;
using json = nlohmann::json;

namespace {
RunConfig config_of(json j, const std::vector<std::string>& sets = {}) { return resolve_config(j, "run.json", sets); }
}  // namespace

TEST_CASE("probe statistics per head: entropy, Jacobian norm, dead rows, max weight", "[trainer][probes]") {
  // [B=2, H=2, Nq=1, Nk=4]: head 0 uniform in both examples, head 1 one-hot in the first
  // example and fully masked (skipped) in the second.
  const Tensor w = Tensor::from({0.25f, 0.25f, 0.25f, 0.25f, 0, 1, 0, 0,  //
                                 0.25f, 0.25f, 0.25f, 0.25f, 0, 0, 0, 0},
                                {2, 2, 1, 4});
  const std::vector<SoftmaxStats> heads = softmax_stats_per_head(w);
  REQUIRE(heads.size() == 2);
  CHECK(heads[0].rows == 2);
  CHECK(heads[0].mean_entropy == Approx(std::log(4.0)));
  CHECK(heads[0].mean_max_weight == Approx(0.25));
  // ||diag(w) - w w^T||_F for w uniform over 4: sqrt(4 (1/4 - 1/16)^2 + 12 / 16^2).
  CHECK(heads[0].mean_jacobian_norm == Approx(std::sqrt(4 * std::pow(0.1875, 2) + 12.0 / 256)));
  CHECK(heads[0].dead_fraction == 0);
  CHECK(heads[1].rows == 1);
  CHECK(heads[1].mean_entropy == 0);
  CHECK(heads[1].mean_max_weight == 1);
  CHECK(heads[1].dead_fraction == 1);
}

TEST_CASE("update/weight ratio of a parameter snapshot", "[trainer][probes]") {
  Tensor p = Tensor::from({3, 4});
  const ParameterSnapshot before({p});
  p.data()[0] = 3.3f;  // moved by 0.3 from a weight of norm 5
  CHECK(before.update_ratios({p})[0] == Approx(0.06).epsilon(1e-5));
}

TEST_CASE("count_correct skips ignored targets", "[trainer]") {
  // 3 positions, 2 classes: argmax 1, 0, 1.
  const Tensor logits = Tensor::from({0, 1, 2, -1, 0.5f, 0.7f}, {1, 3, 2});
  const Accuracy a = count_correct(logits, Indices::from({1, 1, kIgnore}, {1, 3}), kIgnore);
  CHECK(a.scored == 2);
  CHECK(a.correct == 1);
  CHECK(a.value() == Approx(0.5));
  CHECK_THROWS_WITH(count_correct(logits, Indices::from({1, 1}, {1, 2}), kIgnore),
                    Catch::Contains("count_correct") && Catch::Contains("[1, 3, 2]"));
}

TEST_CASE("gradient norms per parameter and globally", "[trainer]") {
  Tensor a = Tensor::from({3, 4});
  a.requires_grad_();
  Tensor b = Tensor::from({1, 2});
  b.requires_grad_();  // no gradient: counts 0
  sum(a * a * Scalar(0.5)).backward();  // grad a = a = (3, 4): norm 5
  const GradientNorms n = gradient_norms({a, b});
  REQUIRE(n.per_parameter.size() == 2);
  CHECK(n.per_parameter[0] == Approx(5));
  CHECK(n.per_parameter[1] == 0);
  CHECK(n.global == Approx(5));
}

TEST_CASE("model options follow the config and the task", "[trainer]") {
  const RunConfig c = config_of({{"model", {{"scorer", "scaled_dot"}, {"scale", 0.5}, {"relative_bias", "t5"},
                                            {"relative_buckets", 8}, {"relative_max_distance", 20},
                                            {"d_model", 32}, {"heads", 2}, {"causal", true}, {"dropout", 0.1}}},
                                 {"task", {{"name", "copy"}, {"seq_len", 9}, {"vocab", 12}}}});
  const auto task = make_task(c.task);
  const SequenceModelOptions o = sequence_model_options(c.model, *task);
  CHECK(o.vocab_size == 12);
  CHECK(o.input_features == 0);
  CHECK(o.num_classes == 12);
  CHECK(o.max_len == 9);
  CHECK(o.d_model == 32);
  CHECK(o.heads == 2);
  CHECK(o.d_head == 16);
  CHECK(o.causal);
  CHECK(o.dropout == Approx(0.1));
  CHECK(o.scorer.kind == "scaled_dot");
  CHECK(o.scorer.scale.value(16) == Approx(0.5));
  CHECK(o.scorer.relative_bias.kind == RelativeBiasKind::t5);
  CHECK(o.scorer.relative_bias.num_buckets == 8);
  CHECK(o.scorer.relative_bias.max_distance == 20);
  CHECK_FALSE(o.scorer.relative_bias.bidirectional);  // causal

  const RunConfig p = config_of({{"model", {{"scorer", "additive"}, {"additive_hidden", 7}, {"relative_bias", "clipped"},
                                            {"relative_window", 3}}},
                                 {"task", {{"name", "pixels"}}}});
  const auto pixels = make_task(p.task);
  const SequenceModelOptions q = sequence_model_options(p.model, *pixels);
  CHECK(q.vocab_size == 0);
  CHECK(q.input_features == 6);
  CHECK(q.num_classes == 4);
  CHECK(q.scorer.additive_hidden == 7);
  CHECK(q.scorer.relative_bias.kind == RelativeBiasKind::clipped);
  CHECK(q.scorer.relative_bias.window == 3);
  // The default scale sqrt_dk is 1/sqrt(d_head).
  const RunConfig d = config_of({{"task", {{"name", "copy"}}}});
  CHECK(sequence_model_options(d.model, *task).scorer.scale.value(16) == Approx(0.25));
}

TEST_CASE("model.init re-draws weight matrices only", "[trainer]") {
  const RunConfig c = config_of({{"model", {{"init", "normal"}, {"init_std", 0.5}, {"d_model", 32}, {"heads", 2}}},
                                 {"task", {{"name", "copy"}}}});
  const auto task = make_task(c.task);
  Generator gen(3);
  const auto model = build_model(c.model, *task, gen);
  const Tensor w = model->parameter("blocks.0.ff.in.weight");  // [32, 128]
  double sq = 0;
  for (Scalar x : w.to_vector()) sq += double(x) * x;
  CHECK(std::sqrt(sq / w.numel()) == Approx(0.5).epsilon(0.05));
  // Xavier-uniform of [32, 128] would have std sqrt(2 / 160) ~ 0.11; the embedding keeps N(0, 1).
  const Tensor e = model->parameter("embed.weight");
  double se = 0;
  for (Scalar x : e.to_vector()) se += double(x) * x;
  CHECK(std::sqrt(se / e.numel()) == Approx(1).epsilon(0.1));
  for (Scalar x : model->parameter("blocks.0.ff.in.bias").to_vector()) CHECK(x == 0);
  // Same seed, same model.
  Generator again(3);
  CHECK(build_model(c.model, *task, again)->parameter("head.weight").to_vector() ==
        model->parameter("head.weight").to_vector());
}

TEST_CASE("the optimizer and its weight-decay groups follow the config", "[trainer]") {
  const json task = {{"name", "copy"}};
  const RunConfig c = config_of({{"optimizer", {{"name", "adamw"}, {"lr", 0.01}, {"weight_decay", 0.1}}}, {"task", task}});
  const auto t = make_task(c.task);
  Generator gen(0);
  const auto model = build_model(c.model, *t, gen);
  const auto opt = build_optimizer(c.optimizer, *model);
  CHECK(opt->kind() == "adamw");
  REQUIRE(opt->groups().size() == 2);
  CHECK(opt->groups()[0].weight_decay == Approx(0.1));
  CHECK(opt->groups()[1].weight_decay == 0);
  for (const auto& [name, p] : opt->groups()[1].params) CHECK((p.dim() <= 1 || name.find("norm") != std::string::npos));
  CHECK(opt->lr() == Approx(0.01));

  const RunConfig all = config_of({{"optimizer", {{"name", "sgd"}, {"momentum", 0.9}, {"no_decay_on_bias_and_norm", false}}},
                                   {"task", task}});
  const auto sgd = build_optimizer(all.optimizer, *model);
  CHECK(sgd->kind() == "sgd");
  CHECK(sgd->groups().size() == 1);
  for (const char* name : {"adam", "rmsprop", "adagrad"})
    CHECK(build_optimizer(config_of({{"optimizer", {{"name", name}}}, {"task", task}}).optimizer, *model)->kind() == name);
}

TEST_CASE("schedules end at min_lr on the last update", "[trainer]") {
  const json task = {{"name", "copy"}};
  const RunConfig c = config_of({{"schedule", {{"name", "warmup_cosine"}, {"warmup_steps", 10}, {"min_lr", 1e-4}}},
                                 {"optimizer", {{"lr", 1e-2}}}, {"train", {{"steps", 100}}}, {"task", task}});
  const auto s = build_schedule(c.schedule, c.train.steps);
  CHECK(s->lr(0, 1e-2) == Approx(1e-3));   // first warm-up step: 1/10 of the peak
  CHECK(s->lr(9, 1e-2) == Approx(1e-2));   // end of warm-up
  CHECK(s->lr(99, 1e-2) == Approx(1e-4));  // the last update
  const RunConfig cos = config_of({{"schedule", {{"name", "cosine"}, {"min_lr", 0}}}, {"train", {{"steps", 11}}}, {"task", task}});
  const auto sc = build_schedule(cos.schedule, cos.train.steps);
  CHECK(sc->lr(5, 1.0) == Approx(0.5));
  CHECK(sc->lr(10, 1.0) == Approx(0).margin(1e-12));
  const RunConfig step = config_of({{"schedule", {{"name", "step"}, {"step_size", 5}, {"gamma", 0.5}}}, {"task", task}});
  CHECK(build_schedule(step.schedule, 100)->lr(5, 1.0) == Approx(0.5));
  // warmup_steps == train.steps is allowed: the run is all warm-up.
  const RunConfig w = config_of({{"schedule", {{"name", "warmup_linear"}, {"warmup_steps", 20}}}, {"train", {{"steps", 20}}}, {"task", task}});
  CHECK(build_schedule(w.schedule, 20)->lr(19, 1.0) == Approx(1.0));
}

TEST_CASE("threads: 0 leaves OpenMP's default, n sets n", "[trainer]") {
  const int before = num_threads();
  CHECK(configure_threads(0) == before);
  CHECK(configure_threads(1) == 1);
  set_num_threads(before);
}

TEST_CASE("progress: plain lines every log_interval off a terminal, a redrawn bar on one", "[trainer]") {
  std::ostringstream plain;
  Progress p(plain, {.total_steps = 10, .first_step = 0, .log_interval = 4, .terminal = false});
  for (int64_t s = 1; s <= 10; ++s) {
    StepMetrics m;
    m.step = s;
    m.loss = 1.5;
    p.update(m);
  }
  p.finish();
  const std::string text = plain.str();
  CHECK(text.find("step 4/10") != std::string::npos);
  CHECK(text.find("step 8/10") != std::string::npos);
  CHECK(text.find("step 10/10") != std::string::npos);  // the last step always
  CHECK(text.find("step 5/10") == std::string::npos);
  CHECK(text.find('\r') == std::string::npos);
  CHECK(text.find("loss 1.5000") != std::string::npos);

  std::ostringstream tty;
  Progress bar(tty, {.total_steps = 3, .first_step = 0, .log_interval = 1, .terminal = true});
  StepMetrics m;
  m.step = 3;
  bar.update(m);
  bar.message("eval");
  CHECK(tty.str().rfind("\r[", 0) == 0);
  CHECK(tty.str().find("step 3/3") != std::string::npos);
  CHECK(tty.str().find("ETA") != std::string::npos);
  CHECK(tty.str().find("\neval\n") != std::string::npos);
  CHECK(format_duration(5) == "5s");
  CHECK(format_duration(187) == "3m07s");
  CHECK(format_duration(3720) == "1h02m");
}

TEST_CASE("metrics log: both files, same rows, eval columns at eval steps only", "[trainer]") {
  const std::string dir = qkv_test::scratch_dir("metrics_log");
  {
    MetricsLog log(dir, std::nullopt);
    for (int64_t s = 1; s <= 3; ++s) {
      StepMetrics m;
      m.step = s;
      m.loss = 0.5 * s;
      if (s == 2) m.eval_loss = 0.75, m.eval_accuracy = 0.5;
      log.write(m);
    }
  }
  const auto csv = qkv_test::lines_of(dir + "/metrics.csv");
  REQUIRE(csv.size() == 4);
  CHECK(csv[0] == "step,loss,accuracy,lr,grad_norm,step_time,eval_loss,eval_accuracy");
  CHECK(csv[2] == "2,1.0,0.0,0.0,0.0,0.0,0.75,0.5");
  CHECK(csv[3] == "3,1.5,0.0,0.0,0.0,0.0,,");
  const auto rows = qkv_test::jsonl_rows(dir + "/metrics.jsonl");
  REQUIRE(rows.size() == 3);
  CHECK(rows[1]["eval_loss"] == 0.75);
  CHECK_FALSE(rows[2].contains("eval_loss"));
  CHECK(rows[0].size() == 6);  // step, loss, accuracy, lr, grad_norm, step_time: nothing per parameter

  // Resuming after step 1 drops rows 2 and 3 of both files and appends from there.
  {
    MetricsLog log(dir, int64_t{1});
    StepMetrics m;
    m.step = 2;
    log.write(m);
  }
  CHECK(qkv_test::lines_of(dir + "/metrics.csv").size() == 3);
  CHECK(qkv_test::jsonl_rows(dir + "/metrics.jsonl").size() == 2);
  // A file of other columns (an older qkv's) cannot be continued.
  std::ofstream(dir + "/metrics.csv", std::ios::trunc) << "step,loss,grad_norm/w\n1,0.5,1\n";
  CHECK_THROWS_WITH(MetricsLog(dir, int64_t{1}), Catch::Contains("columns differ"));
}

TEST_CASE("stop requests are seen by stop_requested and cleared", "[trainer]") {
  clear_stop();
  CHECK_FALSE(stop_requested());
  request_stop(SIGINT);
  CHECK(stop_signal() == SIGINT);
  clear_stop();
  CHECK_FALSE(stop_requested());
}
