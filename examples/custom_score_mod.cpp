// Writing your own score function that runs inside the fused attention kernel: a learned
// penalty per head on the distance between query and key,
//   score(q_i, k_j) = q_i . k_j / sqrt(d_k) - w_h |i - j|,
// declared as "scaled dot product plus a score_mod" and registered under the kind
// "distance_penalty", so that configs can name it and it trains on the fused path (the
// [N, N] scores are never stored).
//   custom_score_mod                                 checks it: a value by hand, its gradients
//                                                    against finite differences, fused = composed
//   custom_score_mod examples/distance_penalty.json  trains it from a config; --resume,
//                                                    --eval and every option of train work
#include <qkv/cli.h>
#include <qkv/qkv.h>

#include "distance_penalty.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace qkv;

// 1. The score_mod: examples/distance_penalty.h (one function of one score, and its backward).

std::shared_ptr<Scorer> make_distance_penalty(const ScorerOptions& options) {
  return std::make_shared<ScoreModScorer>(std::make_shared<ScaledDotScorer>(),
                                          std::make_shared<DistancePenalty>(options.heads));
}

int main(int argc, char** argv) {
  // 2. Registration: "distance_penalty" works wherever a scorer kind is accepted.
  register_scorer("distance_penalty", [](const ScorerOptions& o, Generator&) { return make_distance_penalty(o); });
  if (argc > 1)
    return run_train_cli(argc, argv,
                                      "train with the distance_penalty scorer registered (examples/custom_score_mod.cpp)");

  // 3. A value by hand: one query [1, 0] against keys [2, 0] (distance 0) and [0, 0]
  // (distance 1), values 1 and 0: weight e^(2/sqrt 2) / (e^(2/sqrt 2) + e^-0.1).
  auto scorer = make_distance_penalty({.heads = 1});
  const Tensor q = Tensor::from({1, 0}, {1, 2}), k = Tensor::from({2, 0, 0, 0}, {2, 2});
  const Tensor out = attention(q, k, Tensor::from({1, 0}, {2, 1}), *scorer).output;
  const double e = std::exp(2 / std::sqrt(2.0));
  const bool value_ok = std::abs(out.item() - e / (e + std::exp(-0.1))) < 1e-6;
  std::printf("value by hand: %.7f, expected %.7f\n", out.item(), e / (e + std::exp(-0.1)));

  // 4. Gradients of q, k, v and w against finite differences, on the fused path (the float
  // build's coarser gradcheck settings; a test would link qkv_f64).
  Generator gen(0);
  auto heads2 = make_distance_penalty({.heads = 2});
  const ModuleGradcheckResult grads = gradcheck_module(
      *heads2, [&](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2], *heads2).output; },
      {Tensor::randn({1, 2, 5, 4}, gen), Tensor::randn({1, 2, 6, 4}, gen), Tensor::randn({1, 2, 6, 3}, gen)});
  std::printf("gradcheck:\n%s", grads.report().c_str());

  // 5. Fused (no weights asked for) and composed (weights asked for) agree.
  const Tensor x = Tensor::randn({2, 2, 70, 8}, gen);
  const Tensor fused = attention(x, x, x, *heads2, {.causal = true}).output;
  const AttentionResult composed = attention(x, x, x, *heads2, {.causal = true, .need_weights = true});
  const TensorDiff same = compare(fused, composed.output);
  std::printf("fused against composed: %s\n", same.report.c_str());

  const bool ok = value_ok && grads.passed && same.within_tolerance;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
