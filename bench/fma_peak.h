// The machine's float32 peak, measured rather than assumed: the FMA units differ between
// CPU generations of the same machine kind (AVX-512 is double-pumped on some).
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv_bench {

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fused_multiply_add(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float lane_sum(Vec v) { return _mm512_reduce_add_ps(v); }
inline const char* fma_vector_name() { return "avx512 fma"; }
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fused_multiply_add(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float lane_sum(Vec v) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7];
}
inline const char* fma_vector_name() { return "avx2 fma"; }
#else
using Vec = float;  // a portable build: the peak of scalar code, far below the machine's
constexpr int kLanes = 1;
inline Vec splat(float x) { return x; }
inline Vec fused_multiply_add(Vec a, Vec b, Vec c) { return a * b + c; }
inline float lane_sum(Vec v) { return v; }
inline const char* fma_vector_name() { return "scalar (portable build)"; }
#endif

// Each thread runs 16 independent chains of FMAs: enough to hide the FMA latency (4
// cycles) on two FMA ports. Best of 3 runs; 2 FLOPs per lane per FMA.
inline double fma_peak_gflops(int threads) {
  constexpr int kChains = 16;
  constexpr int64_t kIterations = 20'000'000;
  double best = 0;
  for (int run = 0; run < 3; ++run) {
    float sink = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      Vec acc[kChains];
      for (int c = 0; c < kChains; ++c) acc[c] = splat(1.0f + 0.001f * static_cast<float>(c));
      const Vec scale = splat(0.999999f), shift = splat(1e-6f);
      for (int64_t i = 0; i < kIterations; ++i) {
#pragma GCC unroll 16
        for (int c = 0; c < kChains; ++c) acc[c] = fused_multiply_add(acc[c], scale, shift);
      }
      for (int c = 0; c < kChains; ++c) sink += lane_sum(acc[c]);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double flops = 2.0 * kLanes * kChains * static_cast<double>(kIterations) * threads;
    if (sink != 0) best = std::max(best, flops / seconds / 1e9);  // sink keeps the loop alive
  }
  return best;
}

}  // namespace qkv_bench
