// Writing a custom layer: a cosine-similarity attention scorer with a learned temperature,
//   score(q, k) = exp(log_scale) * q.k / (|q| |k|),
// registered under the kind "cosine" so that AttentionOptions and run configs can name it.
//   custom_layer                               checks it: one value by hand, and its
//                                              gradients against finite differences
//   custom_layer examples/cosine.json [...]    trains it from a config ("scorer": "cosine"),
//   custom_layer --resume DIR, --eval DIR      with every option of train (qkv/cli.h)
// docs/layers.md ("Writing a custom layer") walks through this file.
#include <qkv/cli.h>
#include <qkv/qkv.h>

#include <cmath>
#include <cstdio>

using namespace qkv;

// 1. The layer: a Scorer, so it plugs into MultiHeadAttention like the built-in ones.
class CosineScorer : public Scorer {
 public:
  // log_scale starts at log(initial_scale); exp() keeps the scale positive as it learns.
  explicit CosineScorer(Scalar initial_scale = 1) {
    log_scale_ = register_parameter("log_scale", Tensor::from({std::log(initial_scale)}));
  }

  // queries [.., Nq, d], keys [.., Nk, d] -> [.., Nq, Nk]. Built from differentiable ops, so
  // the backward pass comes for free (and the gradcheck below proves it is right).
  Tensor scores(const Tensor& queries, const Tensor& keys) override {
    if (queries.size(-1) != keys.size(-1))
      throw std::invalid_argument("CosineScorer: queries " + shape_str(queries.shape()) + " and keys " +
                                  shape_str(keys.shape()) + " must have the same width");
    const Tensor cosine = matmul(unit_rows(queries), unit_rows(keys), {.transpose_b = true});
    return mul(cosine, exp(log_scale_));
  }

 private:
  // x / |x| along the last axis; the small epsilon keeps a zero row finite.
  static Tensor unit_rows(const Tensor& x) { return div(x, sqrt(add(sum(mul(x, x), -1, true), Scalar(1e-12)))); }

  Tensor log_scale_;
};

int main(int argc, char** argv) {
  // 2. Registration: the kind "cosine" now works wherever a scorer kind is accepted,
  // model.scorer of a run config included. It must happen before a config is read, in
  // every process that reads one (a resumed run's config names "cosine" too).
  register_scorer("cosine", [](const ScorerOptions&, Generator&) { return std::make_shared<CosineScorer>(); });
  if (argc > 1)
    return run_train_cli(argc, argv, "train with the cosine scorer registered (examples/custom_layer.cpp)");

  // 3. A value by hand: q = [1, 0]; keys [1, 0], [0, 1], [1, 1] -> cosines 1, 0, 1/sqrt(2).
  CosineScorer scorer;
  const Tensor by_hand = scorer(Tensor::from({1, 0}, {1, 2}), Tensor::from({1, 0, 0, 1, 1, 1}, {3, 2}));
  const TensorDiff value = compare(by_hand, Tensor::from({1, 0, Scalar(1 / std::sqrt(2.0))}, {1, 3}));
  std::printf("value by hand: %s\n", value.report.c_str());

  // 4. Gradient check of queries, keys and log_scale. This example uses the float build, so
  // gradcheck's float defaults (coarser step and tolerances) apply; a test would link qkv_f64.
  Generator gen(0);
  CosineScorer warm(2.0f);
  const ModuleGradcheckResult grads = gradcheck_module(
      warm, [&](const std::vector<Tensor>& in) { return warm(in[0], in[1]); },
      {Tensor::randn({2, 3, 4}, gen), Tensor::randn({2, 5, 4}, gen)});
  std::printf("gradcheck:\n%s", grads.report().c_str());

  // 5. Used through the registry inside multi-head attention.
  MultiHeadAttention attn(AttentionOptions{.d_model = 8, .heads = 2, .scorer = {.kind = "cosine"}}, gen);
  const AttentionResult r = attn.forward(Tensor::randn({1, 4, 8}, gen));
  std::printf("attention with the cosine scorer: output %s, weights %s\n", shape_str(r.output.shape()).c_str(),
              shape_str(r.weights.shape()).c_str());

  const bool ok = value.within_tolerance && grads.passed;
  std::printf("%s\n", ok ? "PASSED" : "FAILED");
  return ok ? 0 : 1;
}
