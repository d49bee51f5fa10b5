#include "bench/kernels.h"

#include <qkv.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "bench/gemm_anchors.h"
#include "bench/model_size.h"
#include "bench/timing.h"
#include "core/cpu_caches.h"
#include "core/ops/direct_gemm.h"
#include "core/ops/gemm_dispatch.h"
#include "core/ops/kernels.h"
#include "core/ops/packed_gemm.h"
#include "core/ops/product_threads.h"

namespace qkv_bench {
namespace {

// C [m, n] = op(A) op(B); A is stored [k, m] when a_transposed, B [n, k] when b_transposed.
struct Product {
  int64_t m, k, n;
  bool a_transposed = false, b_transposed = false;
  auto key() const { return std::make_tuple(m, k, n, a_transposed, b_transposed); }
};

// Every product of one training step of the model: each linear layer [rows, in] x [in,
// out] forward, its input gradient G W^T (B transposed) and its weight gradient x^T G (A
// transposed); and one head's q k^T and weights v, which the fused attention kernel
// computes with direct_gemm.
std::vector<Product> model_products(const ModelSize& s) {
  const int64_t rows = s.batch * s.seq_len, d = s.d_model, n = s.seq_len, d_head = s.d_model / s.heads;
  std::vector<Product> products;
  for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{{d, d}, {d, 4 * d}, {4 * d, d}, {d, s.vocab}}) {
    products.push_back({rows, in, out});
    products.push_back({rows, out, in, false, true});
    products.push_back({in, rows, out, true, false});
  }
  products.push_back({n, d_head, n, false, true});
  products.push_back({n, n, d_head});
  return products;
}

// Eigen's GEMM as qkv used it before packed_gemm, for reference: C's rows (or columns
// when C is wider than tall) split over the threads in blocks of 16, each block one
// single-threaded Eigen product (Eigen's own split of one product left one thread waiting
// on the other's packing).
template <class Lhs, class Rhs>
void eigen_gemm(qkv::kernels::MatrixMap c, const Lhs& a, const Rhs& b) {
  constexpr int64_t kBlock = 16;
  const int64_t rows = c.rows(), cols = c.cols(), inner = a.cols();
  const bool by_rows = rows >= cols;
  const int64_t length = by_rows ? rows : cols;
  qkv::parallel_for((length + kBlock - 1) / kBlock, kBlock * inner * (by_rows ? cols : rows), [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kBlock, count = std::min(end * kBlock, length) - first;
    if (by_rows) c.middleRows(first, count).noalias() = a.middleRows(first, count) * b;
    else c.middleCols(first, count).noalias() = a * b.middleCols(first, count);
  });
}

double max_relative_difference(const std::vector<float>& got, const std::vector<float>& expected) {
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(double(got[i]) - double(expected[i])));
    scale = std::max(scale, std::abs(double(expected[i])));
  }
  return worst / std::max(scale, 1e-30);
}

}  // namespace

void bench_kernels(int64_t repeats, const std::string& configs, const std::vector<std::string>& anchor_names) {
  // Products in order of first appearance, each with the workloads it belongs to.
  std::vector<Product> products;
  std::map<std::tuple<int64_t, int64_t, int64_t, bool, bool>, std::vector<std::string>> sources;
  auto add = [&](const Product& p, const std::string& source) {
    auto& names = sources[p.key()];
    if (names.empty()) products.push_back(p);
    if (std::find(names.begin(), names.end(), source) == names.end()) names.push_back(source);
  };
  for (int64_t size : {256, 512, 1024, 1536, 2048}) add({size, size, size}, "square");
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(configs))
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files)
    for (const Product& p : model_products(read_size(file.string()))) add(p, file.stem().string());

  std::vector<GemmAnchor> anchors = load_anchors(anchor_names);
  const int threads = qkv::num_threads();
  for (GemmAnchor& anchor : anchors)
    if (anchor.error.empty()) anchor.set_threads(threads);
  const qkv::CpuCaches& caches = qkv::cpu_caches();
  const qkv::kernels::PackedBlocks blocks = qkv::kernels::packed_blocks(caches);
  std::printf("%s\n", nlohmann::json({{"workload", "kernels"}, {"threads", threads}, {"caches", {{"l1d", caches.l1d},
      {"l2", caches.l2}, {"l3", caches.l3}, {"source", caches.source}}}, {"packed_blocks", {{"kc", blocks.depth},
      {"mc", blocks.rows}, {"nc", blocks.columns}}},
      {"parallel_product_grain", threads > 1 ? qkv::kernels::measured_parallel_product_grain() : 0.0}}).dump().c_str());

  qkv::Generator gen(0);
  qkv::NoGradGuard no_grad;
  qkv_bench::WarmupOnce warmup;  // qkv's timing of the first product warms the threads up
  for (const Product& p : products) {
    const int64_t m = p.m, k = p.k, n = p.n;  // plain names: lambdas capture them
    const bool ta = p.a_transposed, tb = p.b_transposed;
    const qkv::Tensor a = qkv::Tensor::randn(ta ? qkv::Shape{k, m} : qkv::Shape{m, k}, gen);
    const qkv::Tensor b = qkv::Tensor::randn(tb ? qkv::Shape{n, k} : qkv::Shape{k, n}, gen);
    const double flops = 2.0 * static_cast<double>(m * k * n);
    const int64_t reps = std::max<int64_t>(5, static_cast<int64_t>(repeats * 2e9 / flops / 10));
    auto gflops = [&](const std::function<void()>& step) {
      return flops / (time_it(2, reps, step, warmup.seconds()).median_ms * 1e6);
    };

    nlohmann::json line{{"workload", "kernels"}, {"m", m}, {"k", k}, {"n", n}, {"a_transposed", ta},
                        {"b_transposed", tb}, {"threads", threads}, {"from", sources[p.key()]}};
    const qkv::Tensor reference = qkv::matmul(a, b, {.transpose_a = ta, .transpose_b = tb});
    line["qkv_kernel"] = qkv::kernels::gemm_kernel_name(qkv::kernels::choose_gemm_kernel(m, n, k, caches));
    line["qkv_gflops"] = gflops([&] { qkv::matmul(a, b, {.transpose_a = ta, .transpose_b = tb}); });

    // qkv's kernels one by one, from A and B as they lie (parallel_direct_gemm copies a
    // transposed B into rows).
    const auto lhs = qkv::kernels::StridedMatrix::row_major(a.data(), ta ? m : k, ta);
    const auto rhs = qkv::kernels::StridedMatrix::row_major(b.data(), tb ? k : n, tb);
    std::vector<float> c(m * n);
    line["direct_gflops"] =
        gflops([&] { qkv::kernels::parallel_direct_gemm(m, n, k, 1, lhs, rhs, c.data(), n, false); });
    line["packed_gflops"] = gflops(
        [&] { qkv::kernels::parallel_packed_gemm(m, n, k, 1, lhs, rhs, c.data(), n, false, nullptr, blocks); });
    line["packed_max_rel_diff"] = max_relative_difference(c, reference.to_vector());
    line["eigen_gflops"] = gflops([&] {
      using qkv::kernels::ConstMatrixMap;
      const qkv::kernels::MatrixMap C(c.data(), m, n);
      const ConstMatrixMap A(a.data(), ta ? k : m, ta ? m : k), B(b.data(), tb ? n : k, tb ? k : n);
      if (!ta && !tb) eigen_gemm(C, A, B);
      else if (!ta) eigen_gemm(C, A, B.transpose());
      else if (!tb) eigen_gemm(C, A.transpose(), B);
      else eigen_gemm(C, A.transpose(), B.transpose());
    });

    for (const GemmAnchor& anchor : anchors) {
      if (!anchor.error.empty()) {
        line[anchor.name + "_error"] = anchor.error;
        continue;
      }
      line[anchor.name + "_gflops"] = gflops([&] { anchor.sgemm(ta, tb, m, n, k, a.data(), b.data(), c.data()); });
      line[anchor.name + "_kernel"] = anchor.kernel;
      // The same product as qkv's, to float rounding: a fast wrong call would show here.
      line[anchor.name + "_max_rel_diff"] = max_relative_difference(c, reference.to_vector());
    }
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
  }
}

}  // namespace qkv_bench
