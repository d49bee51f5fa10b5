// Times one training step (sample a batch, forward, cross-entropy, backward, Adam update)
// of a small transformer, the model of the vanishing experiment. bench/torch_train_step.py
// times the same model in PyTorch eager on the same machine, for the ratio.
//
//   bench_train_step [--steps N] [--warmup N] [--d-k N] [--batch N] [--threads N]
#include <qkv.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "experiments/training_probe.h"

int main(int argc, char** argv) {
  int64_t steps = 300, warmup = 30, d_k = 64, batch = 32, threads = 0;
  CLI::App app{"Median wall time of one training step of a 2-layer pre-LN transformer (d_model 64) on reverse."};
  app.add_option("--steps", steps, "timed steps")->capture_default_str();
  app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str();
  app.add_option("--d-k", d_k, "width of the single attention head")->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads (0: OpenMP's default)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) qkv::set_num_threads(static_cast<int>(threads));

  const auto task = qkv::make_task("reverse", {{"seq_len", 9}, {"vocab", 12}});
  qkv::SequenceModelOptions o{.vocab_size = task->vocab_size(), .num_classes = task->num_classes(),
                              .max_len = task->seq_len(), .d_model = 64, .heads = 1, .d_head = d_k,
                              .layers = 2, .d_ff = 128, .positional = "sinusoidal"};
  qkv::Generator gen(0);
  qkv::SequenceModel model(o, gen);
  qkv::Adam optimizer(model.named_parameters(), qkv::AdamOptions{.lr = 1e-3});

  std::vector<double> ms;
  for (int64_t step = 0; step < warmup + steps; ++step) {
    const auto start = std::chrono::steady_clock::now();
    const qkv::Batch b = task->sample(batch, gen);
    qkv::Tensor loss = qkv::cross_entropy(model.forward(b.tokens).logits, b.targets, qkv::kIgnore);
    optimizer.zero_grad();
    loss.backward();
    optimizer.step();
    const double elapsed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (step >= warmup) ms.push_back(elapsed);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("qkv train step: d_k %lld, batch %lld, %d threads, %lld steps: median %.3f ms (p10 %.3f, p90 %.3f)\n",
              static_cast<long long>(d_k), static_cast<long long>(batch), qkv::num_threads(),
              static_cast<long long>(steps), ms[ms.size() / 2], ms[ms.size() / 10], ms[ms.size() * 9 / 10]);
}
