// flex_attention (core/ops.h): every score_mod, mask_mod, the sink, sigmoid weights and
// grouped-query heads against the composition of simple ops they replace, across the
// kernel's block boundaries (queries in blocks of 64, mask tiles of 64, keys in blocks of
// 512), in double to 1e-10; finite-difference gradchecks including the mods' parameters;
// values by hand; and the same for every dot-product scorer through MultiHeadAttention.
#include <catch2/catch.hpp>
#include <cmath>

#include "examples/distance_penalty.h"
#include "layers_gradcheck_helpers.h"
#include "qkv.h"
#include "random_tensors.h"

using namespace qkv;

namespace {

// The composition flex_attention replaces, in the split layout [B, H, N, d].
Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, const FlexAttentionOptions& o) {
  const int64_t group = q.size(-3) / k.size(-3);
  Tensor s = matmul(q, repeat_kv_heads(k, group), {.transpose_b = true, .alpha = o.scale});
  for (const auto& mod : o.score_mods) s = apply_score_mod(s, mod);
  if (o.mask_mod)
    s = masked_fill(s, mask_tensor(*o.mask_mod, q.size(0), q.size(1), q.size(2), k.size(2)), -INFINITY);
  Tensor w;
  if (o.normalizer == AttentionNormalizer::sigmoid) {
    w = sigmoid(add(s, o.sigmoid_bias));
  } else if (o.sink.defined()) {
    Shape column = s.shape();
    column.back() = 1;
    w = slice(softmax(concat({s, expand(reshape(o.sink, {o.sink.size(0), 1, 1}), column)}, -1)), -1, 0, s.size(-1));
  } else {
    w = softmax(s);
  }
  return matmul(w, repeat_kv_heads(v, group));
}

struct Case {
  std::string name;
  FlexAttentionOptions options;
  std::vector<std::shared_ptr<Module>> owners;  // modules holding the mods' parameters
};

// Values and the gradients of q, k, v, the sink and every mod parameter, fused against
// composed, for the same output gradient.
void check_against_composed(const Case& c, const Tensor& q0, const Tensor& k0, const Tensor& v0, double tol = 1e-10) {
  INFO(c.name);
  std::vector<Tensor> params;
  for (const auto& m : c.owners)
    for (const Tensor& p : m->parameters()) params.push_back(p);
  Tensor sink = c.options.sink.defined() ? c.options.sink.clone().requires_grad_() : Tensor();
  auto run = [&](bool fused, std::vector<Tensor>& grads) {
    for (const auto& m : c.owners) m->zero_grad();
    Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(), v = v0.clone().requires_grad_();
    if (sink.defined()) sink.zero_grad();
    FlexAttentionOptions o = c.options;
    o.sink = sink;
    const Tensor out = fused ? flex_attention(q, k, v, o).output : composed(q, k, v, o);
    Generator seed_gen(5);
    out.backward(Tensor::randn(out.shape(), seed_gen));
    grads = {q.grad(), k.grad(), v.grad()};
    if (sink.defined()) grads.push_back(sink.grad());
    for (const Tensor& p : params) grads.push_back(p.grad().clone());
    return out;
  };
  std::vector<Tensor> gf, gc;
  const Tensor f = run(true, gf), r = run(false, gc);
  const TensorDiff value = compare(f, r, tol, tol);
  INFO("value: " << value.report);
  CHECK(value.within_tolerance);
  REQUIRE(gf.size() == gc.size());
  for (size_t i = 0; i < gf.size(); ++i) {
    const TensorDiff d = compare(gf[i], gc[i], tol, tol);
    INFO("gradient " << i << ": " << d.report);
    CHECK(d.within_tolerance);
  }
}

// A user's mask that reads the head (and so keeps MaskMod's reads_batch_or_head() = true):
// head h sees the keys j <= i + 7 h, and classify() is MaskMod's, every block mixed.
class HeadBandMask : public MaskMod {
 public:
  bool visible(int64_t, int64_t head, int64_t i, int64_t j) const override { return j <= i + 7 * head; }
};

std::vector<std::pair<std::string, std::shared_ptr<const MaskMod>>> masks(int64_t batch, int64_t n) {
  Tensor padding = Tensor::zeros({batch, n});
  for (int64_t j = n - 37; j < n; ++j) padding.data()[j] = 1;  // batch row 0 loses its last keys
  if (batch > 1)
    for (int64_t j = 0; j < n; j += 3) padding.data()[n + j] = 1;  // row 1 every third key
  std::vector<int64_t> documents;
  for (int64_t i = 0; i < n; ++i) documents.push_back(i < 90 ? 0 : i < 200 ? 1 : 2);
  return {{"none", nullptr},
          {"causal", causal_mask()},
          {"sliding window 40, causal", mask_union({causal_mask(), sliding_window_mask(40, true)})},
          {"sliding window 40", sliding_window_mask(40, false)},
          {"key padding", key_padding_mask(padding)},
          {"prefix 100", prefix_mask(100)},
          {"documents, causal", document_mask(documents, true)},
          {"a band per head (a user's mask)", std::make_shared<HeadBandMask>()}};
}
}  // namespace

TEST_CASE("flex attention: every mask and score_mod against the composition, N = 300, d = 48",
          "[grad][attention][flex]") {
  const int64_t b = 2, h = 2, n = 300, d = 48;
  const Tensor q = randn({b, h, n, d}), k = randn({b, h, n, d}), v = randn({b, h, n, d});
  auto relative = std::make_shared<RelativePositionBias>(
      RelativeBiasOptions{.kind = RelativeBiasKind::t5, .num_buckets = 16, .max_distance = 64, .init_stddev = 0.5}, h, gen());
  auto penalty = std::make_shared<DistancePenalty>(h);
  auto temperature = std::make_shared<LearnedTemperatureScorer>(LearnedTemperatureScorerOptions{.heads = h, .d_k = d});
  struct Mod {
    std::string name;
    std::vector<std::shared_ptr<const ScoreMod>> mods;
    std::vector<std::shared_ptr<Module>> owners;
  };
  const std::vector<Mod> mods = {
      {"no score_mod", {}, {}},
      {"softcap 2", {std::make_shared<SoftcapMod>(2.0)}, {}},
      {"relative bias (t5)", {std::make_shared<RelativeBiasMod>(*relative)}, {relative}},
      {"alibi", {std::make_shared<AlibiMod>(h)}, {}},
      {"learned temperature", temperature->fused(d)->score_mods, {temperature}},
      {"user distance penalty, then softcap", {penalty, std::make_shared<SoftcapMod>(3.0)}, {penalty}}};
  for (const auto& [mask_name, mask] : masks(b, n))
    for (const Mod& m : mods)
      check_against_composed({mask_name + " / " + m.name,
                              {.scale = 1 / std::sqrt(Scalar(d)), .score_mods = m.mods, .mask_mod = mask}, m.owners},
                             q, k, v);
}

TEST_CASE("flex attention: several key blocks, sink, sigmoid weights, grouped-query heads", "[grad][attention][flex]") {
  const Scalar scale = 0.2;
  // 600 keys: two key blocks, and no weights kept by the forward (the backward recomputes).
  const Tensor q = randn({1, 4, 70, 16}), k = randn({1, 2, 600, 16}), v = randn({1, 2, 600, 8});
  const Tensor k4 = randn({1, 4, 600, 16}), v4 = randn({1, 4, 600, 8});
  auto penalty = std::make_shared<DistancePenalty>(4);
  for (const auto& [mask_name, mask] : masks(1, 600)) {
    check_against_composed({"600 keys / " + mask_name, {.scale = scale, .mask_mod = mask}, {}}, q, k4, v4);
    check_against_composed({"600 keys, grouped heads / " + mask_name, {.scale = scale, .mask_mod = mask}, {}}, q, k, v);
    // A mod that reads its scores, where the backward recomputes them (and keeps them in its
    // workspace) instead of finding them kept by the forward.
    check_against_composed(
        {"600 keys, softcap / " + mask_name, {.scale = scale, .score_mods = {std::make_shared<SoftcapMod>(2.0)}, .mask_mod = mask}, {}},
        q, k4, v4);
    check_against_composed({"sink / " + mask_name,
                            {.scale = scale, .score_mods = {penalty}, .mask_mod = mask,
                             .sink = Tensor::from({0.5, -1.0, 2.0, 0.0})},
                            {penalty}},
                           q, k, v);
    check_against_composed({"sigmoid / " + mask_name,
                            {.scale = scale, .mask_mod = mask, .normalizer = AttentionNormalizer::sigmoid,
                             .sigmoid_bias = -std::log(600.0)}},
                           q, k, v);
  }
  // And with few keys, where the forward keeps the weights for the backward.
  const Tensor ks = randn({1, 2, 130, 16}), vs = randn({1, 2, 130, 8});
  check_against_composed({"sink, 130 keys, causal", {.scale = scale, .mask_mod = causal_mask(), .sink = Tensor::from({0.5, -1.0, 2.0, 0.0})}},
                         randn({1, 4, 130, 16}), ks, vs);
  check_against_composed({"sigmoid, 130 keys, causal",
                          {.scale = scale, .mask_mod = causal_mask(), .normalizer = AttentionNormalizer::sigmoid}},
                         randn({1, 4, 130, 16}), ks, vs);
}

TEST_CASE("flex attention: the packed layout equals the split one, grouped heads included", "[grad][attention][flex]") {
  const int64_t b = 2, h = 4, h_kv = 2, n = 70, d = 8;
  const Tensor q = randn({b, n, h * d}), k = randn({b, n, h_kv * d}), v = randn({b, n, h_kv * d});
  auto split = [](const Tensor& x, int64_t heads) {
    return permute(reshape(x, {x.size(0), x.size(1), heads, x.size(2) / heads}), {0, 2, 1, 3});
  };
  const FlexAttentionOptions o{.scale = 0.3, .score_mods = {std::make_shared<AlibiMod>(h)}, .mask_mod = causal_mask()};
  FlexAttentionOptions packed = o;
  packed.heads = h;
  packed.kv_heads = h_kv;
  const Tensor a = flex_attention(q, k, v, packed).output;
  const Tensor s = flex_attention(split(q, h), split(k, h_kv), split(v, h_kv), o).output;
  const TensorDiff diff = compare(a, reshape(permute(s, {0, 2, 1, 3}), a.shape()), 1e-12, 1e-12);
  INFO(diff.report);
  CHECK(diff.within_tolerance);
}

// flex_attention_qkv reads q, k and v as column blocks of one tensor: the same arithmetic
// as flex_attention on the three blocks, so the same bits, and the gradient is theirs side
// by side.
TEST_CASE("flex attention: q, k and v in one tensor equal the three, gradients included", "[grad][attention][flex]") {
  const int64_t b = 2, h = 4, h_kv = 2, n = 70, d = 8;
  const Tensor qkv0 = randn({b, n, (h + 2 * h_kv) * d});
  auto relative = std::make_shared<RelativePositionBias>(
      RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = 5, .init_stddev = 0.5}, h, gen());
  FlexAttentionOptions o{.scale = 0.3, .score_mods = {std::make_shared<RelativeBiasMod>(*relative)},
                         .mask_mod = causal_mask(), .heads = h, .kv_heads = h_kv};
  const Tensor g = randn({b, n, h * d});
  for (const bool sink : {false, true}) {
    INFO("sink " << sink);
    auto run = [&](bool one_tensor, Tensor& grad_qkv, Tensor& grad_table, Tensor& grad_sink) {
      relative->zero_grad();
      FlexAttentionOptions options = o;
      if (sink) options.sink = Tensor::from({0.4, -0.3, 0.0, 1.1}).requires_grad_();
      const Tensor qkv = qkv0.clone().requires_grad_();
      Tensor out;
      if (one_tensor) {
        out = flex_attention_qkv(qkv, options).output;
      } else {
        const std::vector<Tensor> parts = split(qkv, {h * d, h_kv * d, h_kv * d}, 2);
        out = flex_attention(parts[0], parts[1], parts[2], options).output;
      }
      out.backward(g);
      grad_qkv = qkv.grad();
      grad_table = relative->parameters()[0].grad().clone();
      grad_sink = sink ? options.sink.grad() : Tensor();
      return out;
    };
    Tensor gq1, gt1, gs1, gq3, gt3, gs3;
    const Tensor one = run(true, gq1, gt1, gs1), three = run(false, gq3, gt3, gs3);
    CHECK(compare(one, three, 0, 0).within_tolerance);
    CHECK(compare(gq1, gq3, 0, 0).within_tolerance);
    CHECK(compare(gt1, gt3, 0, 0).within_tolerance);
    if (sink) CHECK(compare(gs1, gs3, 0, 0).within_tolerance);
  }
  const GradcheckResult check = gradcheck([&](const std::vector<Tensor>& x) {
    return flex_attention_qkv(x[0], {.scale = 0.7, .mask_mod = causal_mask(), .heads = 2, .kv_heads = 1}).output;
  }, {randn({1, 7, 4 * 3})});
  INFO(check.report());
  CHECK(check.passed);
  FlexAttentionOptions bad;
  bad.heads = 4;
  bad.kv_heads = 2;
  CHECK_THROWS_WITH(flex_attention_qkv(randn({1, 5, 20}), bad),
                    Catch::Contains("flex_attention_qkv") && Catch::Contains("8 heads of q, k and v do not divide") &&
                        Catch::Contains("[1, 5, 20]"));
  CHECK_THROWS_WITH(flex_attention_qkv(randn({1, 5, 24}), {}), Catch::Contains("options.heads must be positive"));
}

TEST_CASE("flex attention: q, k and v in one tensor, values by hand", "[attention][flex]") {
  // One head of width 1, rows (q, k, v): token 0 is (1, 0, 2), token 1 is (0, 1, 4).
  const Tensor qkv = reshape(Tensor::from({1.0, 0.0, 2.0, 0.0, 1.0, 4.0}), {1, 2, 3});
  // Token 0 scores the keys 0 and 1, weights 1 / (1 + e) and e / (1 + e); token 1 scores
  // both 0, weights 1/2 each.
  const double e = std::exp(1.0);
  const Tensor out = flex_attention_qkv(qkv, {.heads = 1}).output;
  CHECK(out.data()[0] == Approx((2 + 4 * e) / (1 + e)).epsilon(1e-12));
  CHECK(out.data()[1] == Approx(3.0).epsilon(1e-12));
  // Causal: token 0 sees only itself.
  const Tensor causal = flex_attention_qkv(qkv, {.mask_mod = causal_mask(), .heads = 1}).output;
  CHECK(causal.data()[0] == Approx(2.0).epsilon(1e-12));
  CHECK(causal.data()[1] == Approx(3.0).epsilon(1e-12));
}

TEST_CASE("flex attention: gradcheck of every mod's parameters, the sink, sigmoid and grouped heads",
          "[grad][attention][flex]") {
  const Tensor q = randn({1, 2, 7, 4}), k = randn({1, 1, 9, 4}), v = randn({1, 1, 9, 3});
  auto window = mask_union({causal_mask(), sliding_window_mask(3, true)});
  auto penalty = std::make_shared<DistancePenalty>(2);
  randomise_parameters(*penalty, gen());
  check_layer_gradients(*penalty, [&](const std::vector<Tensor>& x) {
    return flex_attention(x[0], x[1], x[2], {.scale = 0.8, .score_mods = {penalty, std::make_shared<SoftcapMod>(1.5)}, .mask_mod = window}).output;
  }, {q, k, v});
  auto relative = std::make_shared<RelativePositionBias>(RelativeBiasOptions{.kind = RelativeBiasKind::clipped, .window = 3, .init_stddev = 0.5}, 2, gen());
  auto rel_mod = std::make_shared<RelativeBiasMod>(*relative);
  check_layer_gradients(*relative, [&](const std::vector<Tensor>& x) {
    return flex_attention(x[0], x[1], x[2], {.scale = 0.8, .score_mods = {rel_mod}, .mask_mod = causal_mask()}).output;
  }, {q, k, v});
  auto temperature = std::make_shared<LearnedTemperatureScorer>(LearnedTemperatureScorerOptions{.heads = 2, .d_k = 4});
  randomise_parameters(*temperature, gen());
  const auto temperature_mods = temperature->fused(4)->score_mods;
  check_layer_gradients(*temperature, [&](const std::vector<Tensor>& x) {
    return flex_attention(x[0], x[1], x[2], {.score_mods = temperature_mods}).output;
  }, {q, k, v});
  for (const auto& mask : {std::shared_ptr<const MaskMod>(), causal_mask()}) {
    GradcheckResult sink = gradcheck([&](const std::vector<Tensor>& x) {
      return flex_attention(x[0], x[1], x[2], {.scale = 0.8, .mask_mod = mask, .sink = x[3]}).output;
    }, {q, k, v, Tensor::from({0.3, -0.7})});
    INFO(sink.report());
    CHECK(sink.passed);
    GradcheckResult sig = gradcheck([&](const std::vector<Tensor>& x) {
      return flex_attention(x[0], x[1], x[2], {.scale = 0.8, .mask_mod = mask, .normalizer = AttentionNormalizer::sigmoid, .sigmoid_bias = -2.2}).output;
    }, {q, k, v});
    INFO(sig.report());
    CHECK(sig.passed);
  }
}

TEST_CASE("flex attention: values by hand", "[attention][flex]") {
  // One query [1, 0] against keys [2, 0] and [0, 0] with values 1 and 0.
  const Tensor q = Tensor::from({1, 0}, {1, 2}), k = Tensor::from({2, 0, 0, 0}, {2, 2}), v = Tensor::from({1, 0}, {2, 1});
  SECTION("softcap c tanh(s / c), c = 1: weight e^tanh(2) / (e^tanh(2) + 1)") {
    const Tensor o = flex_attention(q, k, v, {.score_mods = {std::make_shared<SoftcapMod>(1.0)}}).output;
    const double e = std::exp(std::tanh(2.0));
    CHECK(o.item() == Approx(e / (e + 1)).epsilon(1e-12));
  }
  SECTION("a sink of logit 2 joins the softmax: weight e^2 / (e^2 + 1 + e^2)") {
    const Tensor o = flex_attention(q, k, v, {.sink = Tensor::from({2.0})}).output;
    CHECK(o.item() == Approx(std::exp(2.0) / (2 * std::exp(2.0) + 1)).epsilon(1e-12));
  }
  SECTION("sigmoid attention with bias -log 2: weights sigmoid(2 - log 2) and sigmoid(-log 2) = 1/3") {
    const Tensor o = flex_attention(q, k, Tensor::from({3, 6}, {2, 1}),
                                    {.normalizer = AttentionNormalizer::sigmoid, .sigmoid_bias = -std::log(2.0)})
                         .output;
    CHECK(o.item() == Approx(3 / (1 + std::exp(-(2 - std::log(2.0)))) + 6.0 / 3).epsilon(1e-12));
  }
  SECTION("the user's distance penalty: s - w |i - j| with w = 0.1, query 0 against keys 0 and 1") {
    auto penalty = std::make_shared<DistancePenalty>(1);
    const Tensor o = flex_attention(q, k, v, {.score_mods = {penalty}}).output;
    CHECK(o.item() == Approx(std::exp(2.0) / (std::exp(2.0) + std::exp(-0.1))).epsilon(1e-12));
  }
  SECTION("a sliding window of 2 (causal): query 3 sees keys 2 and 3 only") {
    const Tensor v4 = Tensor::from({1, 10, 100, 1000}, {4, 1});
    const Tensor o = flex_attention(Tensor::zeros({4, 2}), Tensor::zeros({4, 2}), v4,
                                    {.mask_mod = sliding_window_mask(2, true)}).output;
    CHECK(o.to_vector() == std::vector<Scalar>{1, 5.5, 55, 550});
  }
  SECTION("grouped heads: two query heads read one key/value head") {
    const Tensor qs = randn({1, 2, 3, 4}), ks = randn({1, 1, 5, 4}), vs = randn({1, 1, 5, 2});
    const Tensor grouped = flex_attention(qs, ks, vs, {}).output;
    for (int64_t head = 0; head < 2; ++head) {
      const Tensor alone = flex_attention(slice(qs, 1, head, head + 1), ks, vs, {}).output;
      CHECK(compare(slice(grouped, 1, head, head + 1), alone, 0, 0).within_tolerance);
    }
  }
}

TEST_CASE("flex attention: a query that sees nothing gets zeros, not NaN, and passes zero gradient",
          "[grad][attention][flex]") {
  Tensor padding = Tensor::zeros({2, 70});
  for (int64_t j = 0; j < 70; ++j) padding.data()[70 + j] = 1;  // batch row 1: every key padding
  Tensor q = randn({2, 1, 70, 4}).requires_grad_(), k = randn({2, 1, 70, 4}).requires_grad_();
  Tensor v = randn({2, 1, 70, 3}).requires_grad_();
  const Tensor o = flex_attention(q, k, v, {.mask_mod = key_padding_mask(padding), .row_stats = true}).output;
  sum(o).backward();
  for (const Tensor& t : {o, q.grad(), k.grad(), v.grad()})
    for (Scalar x : slice(t, 0, 1, 2).to_vector()) CHECK(x == 0);
  for (Scalar x : o.to_vector()) CHECK(std::isfinite(x));
}

TEST_CASE("flex attention: row statistics equal those of the composed weights", "[attention][flex]") {
  const Tensor q = randn({1, 2, 130, 8}), k = randn({1, 2, 600, 8}), v = randn({1, 2, 600, 8});
  for (bool with_sink : {false, true}) {
    INFO("sink " << with_sink);
    FlexAttentionOptions o{.scale = 0.9, .mask_mod = causal_mask(), .row_stats = true};
    if (with_sink) o.sink = Tensor::from({1.0, -0.5});
    const Tensor stats = flex_attention(q, k, v, o).row_stats;
    REQUIRE(stats.shape() == Shape{1, 2, 130, kAttentionRowStats});
    Tensor s = masked_fill(mul(matmul(q, k, {.transpose_b = true}), Scalar(0.9)), mask_tensor(*causal_mask(), 1, 2, 130, 600), -INFINITY);
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < 130; ++i) {
        const Scalar* row = s.data() + (h * 130 + i) * 600;
        double m = -INFINITY, l = 0;
        for (int64_t j = 0; j < 600; ++j) m = std::max<double>(m, row[j]);
        const double sink = with_sink ? o.sink.data()[h] : -INFINITY;
        const double mm = std::max(m, sink);
        for (int64_t j = 0; j < 600; ++j) l += std::exp(row[j] - mm);
        l += std::exp(sink - mm);
        const double L = mm + std::log(l);
        double entropy = 0, w2 = 0, w3 = 0;
        for (int64_t j = 0; j <= i; ++j) {
          const double w = std::exp(row[j] - L);
          entropy -= w * std::log(w);
          w2 += w * w;
          w3 += w * w * w;
        }
        const Scalar* got = stats.data() + (h * 130 + i) * kAttentionRowStats;
        CHECK(got[0] == Approx(L).epsilon(1e-12));
        CHECK(got[1] == Approx(m).epsilon(1e-12));
        CHECK(got[2] == Approx(entropy).epsilon(1e-10).margin(1e-12));
        CHECK(got[3] == Approx(w2).epsilon(1e-10));
        CHECK(got[4] == Approx(w3).epsilon(1e-10));
      }
  }
}

TEST_CASE("masks: classify() agrees with visible() on every block", "[attention][flex]") {
  Tensor padding = Tensor::zeros({1, 13});
  for (int64_t j : {3, 4, 5, 11}) padding.data()[j] = 1;
  const std::vector<int64_t> documents{0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 4}, shuffled{2, 0, 0, 1, 1, 2, 0, 0, 3, 3, 1, 4, 4};
  const std::vector<std::shared_ptr<const MaskMod>> all = {
      causal_mask(), sliding_window_mask(3, true), sliding_window_mask(4, false), key_padding_mask(padding),
      prefix_mask(5), mask_union({causal_mask(), key_padding_mask(padding)}), document_mask(documents, false),
      document_mask(documents, true), document_mask(shuffled, false)};
  const size_t exact_documents = 6;  // ids that never decrease, not causal: every block told exactly
  for (size_t m = 0; m < all.size(); ++m)
    for (int64_t q0 = 0; q0 < 13; ++q0)
      for (int64_t q1 = q0 + 1; q1 <= 13; ++q1)
        for (int64_t k0 = 0; k0 < 13; ++k0)
          for (int64_t k1 = k0 + 1; k1 <= 13; ++k1) {
            int64_t seen = 0;
            for (int64_t i = q0; i < q1; ++i)
              for (int64_t j = k0; j < k1; ++j) seen += all[m]->visible(0, 0, i, j);
            const auto kind = all[m]->classify(0, 0, q0, q1, k0, k1);
            INFO("mask " << m << " block [" << q0 << ", " << q1 << ") x [" << k0 << ", " << k1 << ")");
            if (kind == MaskMod::Block::visible) CHECK(seen == (q1 - q0) * (k1 - k0));
            if (kind == MaskMod::Block::hidden) CHECK(seen == 0);
            if (m == exact_documents) CHECK((kind == MaskMod::Block::hidden) == (seen == 0));
            if (m == exact_documents) CHECK((kind == MaskMod::Block::visible) == (seen == (q1 - q0) * (k1 - k0)));
          }
}

TEST_CASE("masks: a union inside a union fills the same visibility as the flat union", "[attention][flex]") {
  // Each union call has scratch of its own: one buffer per thread was the inner union's
  // output and its scratch at once, and the fused kernel lost the inner union's first mask.
  const auto nested = mask_union({causal_mask(), mask_union({sliding_window_mask(8, false), prefix_mask(3)})});
  const auto flat = mask_union({causal_mask(), sliding_window_mask(8, false), prefix_mask(3)});
  constexpr int64_t n = 40;
  std::vector<Scalar> a(n * n), b(n * n);
  nested->fill_visible(0, 0, 0, n, 0, n, a.data(), n);
  flat->fill_visible(0, 0, 0, n, 0, n, b.data(), n);
  CHECK(a == b);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) REQUIRE(a[i * n + j] == Scalar(flat->visible(0, 0, i, j)));
  const Tensor q = randn({1, 2, 70, 8}), k = randn({1, 2, 70, 8}), v = randn({1, 2, 70, 8});
  FlexAttentionOptions with_nested, with_flat;
  with_nested.mask_mod = nested;
  with_flat.mask_mod = flat;
  const TensorDiff diff = compare(flex_attention(q, k, v, with_nested).output, flex_attention(q, k, v, with_flat).output, 0, 0);
  INFO(diff.report);
  CHECK(diff.within_tolerance);
}

TEST_CASE("masks: those that say they read neither batch nor head answer the same for every entry",
          "[attention][flex]") {
  constexpr int64_t n = 24;
  Tensor padding = Tensor::zeros({2, n});
  padding.data()[n + 5] = 1;  // batch row 1 hides key 5
  std::vector<int64_t> documents;
  for (int64_t i = 0; i < n; ++i) documents.push_back(i / 10);
  const std::vector<std::pair<std::shared_ptr<const MaskMod>, bool>> cases = {  // mask, reads batch or head
      {causal_mask(), false},
      {sliding_window_mask(5, true), false},
      {sliding_window_mask(5, false), false},
      {prefix_mask(7), false},
      {document_mask(documents, true), false},
      {mask_union({causal_mask(), sliding_window_mask(5, true)}), false},
      {key_padding_mask(padding), true},
      {mask_union({causal_mask(), key_padding_mask(padding)}), true},
      {std::make_shared<HeadBandMask>(), true}};
  for (size_t m = 0; m < cases.size(); ++m) {
    const auto& [mask, reads] = cases[m];
    INFO("mask " << m);
    CHECK(mask->reads_batch_or_head() == reads);
    if (reads) continue;
    std::vector<Scalar> keep(n * n), keep_there(n * n);
    mask->fill_visible(0, 0, 0, n, 0, n, keep.data(), n);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 3; ++h) {
        mask->fill_visible(b, h, 0, n, 0, n, keep_there.data(), n);
        REQUIRE(keep_there == keep);
        for (int64_t q0 = 0; q0 < n; q0 += 3)
          for (int64_t k0 = 0; k0 < n; k0 += 4) {
            REQUIRE(mask->visible(b, h, q0, k0) == mask->visible(0, 0, q0, k0));
            const int64_t q1 = std::min(n, q0 + 5), k1 = std::min(n, k0 + 7);
            REQUIRE(mask->classify(b, h, q0, q1, k0, k1) == mask->classify(0, 0, q0, q1, k0, k1));
          }
      }
  }
}

TEST_CASE("every dot-product scorer runs fused in MultiHeadAttention and matches its composition",
          "[grad][attention][flex]") {
  struct Variant {
    std::string name;
    AttentionOptions options;
  };
  const int64_t d_model = 16, heads = 4;
  auto make = [&](ScorerOptions scorer) {
    return AttentionOptions{.d_model = d_model, .heads = heads, .scorer = scorer, .bias = true};
  };
  std::vector<Variant> variants;
  for (const std::string kind : {"dot", "scaled_dot", "general", "mup_dot", "qk_norm", "learned_temperature"})
    variants.push_back({kind, make({.kind = kind})});
  variants.push_back({"relative clipped", make({.relative_bias = {.kind = RelativeBiasKind::clipped, .window = 5, .init_stddev = 0.5}})});
  variants.push_back({"relative t5", make({.relative_bias = {.kind = RelativeBiasKind::t5, .num_buckets = 8, .max_distance = 20, .init_stddev = 0.5}})});
  variants.push_back({"alibi", make({.position = PositionKind::alibi})});
  variants.push_back({"rope + general", make({.kind = "general", .position = PositionKind::rope})});
  variants.push_back({"softcap", make({.softcap = 1.5})});
  Variant causal_window{"window 9, causal, grouped heads", make({})};
  causal_window.options.causal = true;
  causal_window.options.window = 9;
  causal_window.options.kv_heads = 2;
  variants.push_back(causal_window);
  Variant sink{"sink, multi-query", make({.kind = "qk_norm"})};
  sink.options.sink = true;
  sink.options.kv_heads = 1;
  variants.push_back(sink);
  Variant sig{"sigmoid, causal", make({.position = PositionKind::rope})};
  sig.options.normalizer = AttentionNormalizer::sigmoid;
  sig.options.causal = true;
  variants.push_back(sig);

  Tensor padding = Tensor::zeros({2, 70});
  for (int64_t j = 60; j < 70; ++j) padding.data()[70 + j] = 1;
  const Tensor x = randn({2, 70, d_model});
  for (const Variant& variant : variants) {
    INFO(variant.name);
    Generator init(3);
    MultiHeadAttention attention(variant.options, init);
    randomise_parameters(attention, gen(), 0.3);
    auto run = [&](bool need_weights, std::vector<Tensor>& grads) {
      attention.zero_grad();
      const AttentionResult r = attention.forward(x, padding, need_weights);
      CHECK(r.weights.defined() == need_weights);  // without weights, the fused kernel ran
      Generator seed(9);
      r.output.backward(Tensor::randn(r.output.shape(), seed));
      grads.clear();
      for (const Tensor& p : attention.parameters()) grads.push_back(p.grad().clone());
      return r.output;
    };
    std::vector<Tensor> gf, gc;
    const Tensor fused = run(false, gf), composed_out = run(true, gc);
    CHECK(compare(fused, composed_out, 1e-10, 1e-10).within_tolerance);
    for (size_t i = 0; i < gf.size(); ++i) {
      const TensorDiff d = compare(gf[i], gc[i], 1e-10, 1e-10);
      INFO("parameter " << attention.named_parameters()[i].first << ": " << d.report);
      CHECK(d.within_tolerance);
    }
  }
}

TEST_CASE("flex attention: refusals name the op, the problem and the shapes", "[attention][flex]") {
  const Tensor q = randn({1, 4, 3, 2}), k = randn({1, 3, 5, 2}), v = randn({1, 3, 5, 2});
  CHECK_THROWS_WITH(flex_attention(q, k, v, {}),
                    Catch::Contains("flex_attention") && Catch::Contains("must divide the heads of q") &&
                        Catch::Contains("[1, 4, 3, 2]") && Catch::Contains("[1, 3, 5, 2]"));
  const Tensor k2 = randn({1, 2, 5, 2}), v2 = randn({1, 2, 5, 2});
  FlexAttentionOptions sink;
  sink.sink = Tensor::from({0.0, 1.0});
  CHECK_THROWS_WITH(flex_attention(q, k2, v2, sink), Catch::Contains("the sink must be [heads] = [4], got [2]"));
  FlexAttentionOptions sigmoid_sink;
  sigmoid_sink.sink = Tensor::zeros({4});
  sigmoid_sink.normalizer = AttentionNormalizer::sigmoid;
  CHECK_THROWS_WITH(flex_attention(q, k2, v2, sigmoid_sink), Catch::Contains("sigmoid attention has none"));
  FlexAttentionOptions sigmoid_stats;
  sigmoid_stats.normalizer = AttentionNormalizer::sigmoid;
  sigmoid_stats.row_stats = true;
  CHECK_THROWS_WITH(flex_attention(q, k2, v2, sigmoid_stats), Catch::Contains("sigmoid weights have none"));
  FlexAttentionOptions packed;
  packed.heads = 4;
  packed.kv_heads = 3;
  CHECK_THROWS_WITH(flex_attention(randn({1, 3, 8}), randn({1, 5, 6}), randn({1, 5, 6}), packed),
                    Catch::Contains("kv_heads 3 must divide heads 4"));
  FlexAttentionOptions negative;
  negative.heads = -2;
  CHECK_THROWS_WITH(flex_attention(q, k2, v2, negative),
                    Catch::Contains("flex_attention") && Catch::Contains("must be >= 0") && Catch::Contains("-2"));
}

TEST_CASE("score_mods with values for other heads than the attention's are refused, fused and composed",
          "[attention][flex]") {
  Generator gen(31);
  const Tensor q = randn({2, 4, 7, 3}), k = randn({2, 4, 7, 3}), v = randn({2, 4, 7, 3});
  const RelativePositionBias two_heads({.kind = RelativeBiasKind::clipped, .window = 2, .init_stddev = 1}, 2, gen);
  const std::vector<std::pair<std::shared_ptr<const ScoreMod>, std::string>> mods = {
      {std::make_shared<HeadScaleMod>(Tensor::ones({3}), false), "HeadScaleMod: holds values for 3 heads, the attention has 4"},
      {std::make_shared<AlibiMod>(2), "AlibiMod: holds values for 2 heads, the attention has 4"},
      {std::make_shared<RelativeBiasMod>(two_heads), "RelativeBiasMod: holds values for 2 heads, the attention has 4"},
      {std::make_shared<DistancePenalty>(3), "DistancePenalty: weights for 3 heads, the attention has 4"}};
  for (const auto& [mod, message] : mods) {
    FlexAttentionOptions options;
    options.score_mods = {mod};
    CHECK_THROWS_WITH(flex_attention(q, k, v, options), Catch::Contains(message));
    CHECK_THROWS_WITH(apply_score_mod(randn({2, 4, 7, 7}), mod), Catch::Contains(message));
  }
  // One value for every head, or one per head, runs.
  FlexAttentionOptions shared, per_head;
  shared.score_mods = {std::make_shared<HeadScaleMod>(Tensor::ones({1}), false)};
  per_head.score_mods = {std::make_shared<AlibiMod>(4)};
  CHECK_NOTHROW(flex_attention(q, k, v, shared));
  CHECK_NOTHROW(flex_attention(q, k, v, per_head));
}

TEST_CASE("attention: keys and values without a head axis serve every head of the queries", "[attention]") {
  // q [2, 5, 4] (two heads) against k, v [6, 4]: the composed path, which used to repeat a
  // head axis the keys do not have and wrote out of bounds; the same as k and v given to
  // each head.
  const Tensor q = randn({2, 5, 4}), k = randn({6, 4}), v = randn({6, 4});
  ScaledDotScorer scorer;
  const Tensor shared = attention(q, k, v, scorer).output;
  REQUIRE(shared.shape() == (Shape{2, 5, 4}));
  const Tensor per_head = attention(q, expand(reshape(k, {1, 6, 4}), {2, 6, 4}), expand(reshape(v, {1, 6, 4}), {2, 6, 4}),
                                    scorer).output;
  const TensorDiff diff = compare(shared, per_head, 1e-12, 1e-12);
  INFO(diff.report);
  CHECK(diff.within_tolerance);
  AttendOptions sink;
  sink.sink = Tensor::zeros({3});
  sink.need_weights = true;
  CHECK_THROWS_WITH(attention(q, expand(reshape(k, {1, 6, 4}), {2, 6, 4}), expand(reshape(v, {1, 6, 4}), {2, 6, 4}),
                              scorer, sink),
                    Catch::Contains("attention: the sink must be [heads] = [2], got [3]"));
}
