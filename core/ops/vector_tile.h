// The register tile shared by qkv's two matrix-product kernels (direct_gemm and
// packed_gemm): a block of C held in vector registers while a depth of A and B streams
// through it. Internal.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "core/ops/product_threads.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace qkv::kernels {

// The widest vector the target has. GCC's and Clang's vector types compile to the
// target's vector instructions (and fused multiply-adds where it has them); a scalar times
// a vector broadcasts the scalar.
#if defined(__AVX512F__)
inline constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
inline constexpr int kVectorBytes = 32;
#else
inline constexpr int kVectorBytes = 16;
#endif
using Vec = Scalar __attribute__((vector_size(kVectorBytes)));
inline constexpr int64_t kLanes = kVectorBytes / sizeof(Scalar);

// The tile of C held in registers: kTileRows x kTileVectors accumulators, plus one vector
// per column of the tile for B's row and one broadcast of A. AVX-512 has 32 vector
// registers (6 x 4 + 4 + 1 = 29 used); AVX2 and SSE have 16 (4 x 2 + 2 + 1 = 11).
inline constexpr int kTileRows = kVectorBytes == 64 ? 6 : 4;
inline constexpr int kTileVectors = kVectorBytes == 64 ? 4 : 2;
inline constexpr int64_t kTileColumns = kTileVectors * kLanes;

// Unaligned loads and stores: rows of C and B start anywhere.
inline Vec load_vector(const Scalar* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_vector(Scalar* p, const Vec& v) { std::memcpy(p, &v, sizeof v); }

// alpha v, rounded before anything is added to it. The tiles add C and a bias to alpha
// times their sums as they store them; left to the compiler, that multiplication and the
// addition after it became one fused multiply-add in tiles of some widths and not of
// others, so an element's bits depended on the width of the tile it fell in, and through
// it on how the product was split over the threads. The empty asm makes the rounded
// product a value that has to exist.
inline Vec scaled(Scalar alpha, Vec v) {
  if (alpha == 1) return v;
  v = alpha * v;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  asm("" : "+v"(v));
#endif
  return v;
}

// How many depth steps ahead the kernels fetch the rows of B they are about to read
// (packed_gemm always, direct_gemm where B's rows crowd the L1). 4, 8, 16 and 32 measured
// the same on the Intel Xeon of docs/performance.md: the hint matters, not its distance.
inline constexpr int64_t kPrefetchSteps = 8;

// Asks the caches for the line holding p[offset] (ForWrite: about to be written). The
// address may lie past the end of p's buffer (rows fetched ahead of the last one): a
// prefetch never faults, and the address is formed as an integer, since a pointer that far
// past the end would be undefined behaviour.
template <bool ForWrite = false>
inline void prefetch(const Scalar* p, int64_t offset) {
  const auto address = reinterpret_cast<std::uintptr_t>(p) + static_cast<std::uintptr_t>(offset) * sizeof(Scalar);
  __builtin_prefetch(reinterpret_cast<const void*>(address), ForWrite ? 1 : 0);
}

// A store that goes around the caches, for data no one reads soon; p aligned to a vector.
// Not ordered with other stores: fence (std::atomic_thread_fence) before another thread
// reads it.
inline void stream_vector(Scalar* p, const Vec& v) {
#if defined(__AVX512F__) || defined(__AVX__) || defined(__SSE2__)
  constexpr bool single = sizeof(Scalar) == 4;
#endif
#if defined(__AVX512F__)
  if constexpr (single) _mm512_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<const __m512&>(v));
  else _mm512_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<const __m512d&>(v));
#elif defined(__AVX__)
  if constexpr (single) _mm256_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<const __m256&>(v));
  else _mm256_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<const __m256d&>(v));
#elif defined(__SSE2__)
  if constexpr (single) _mm_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<const __m128&>(v));
  else _mm_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<const __m128d&>(v));
#else
  store_vector(p, v);
#endif
}

// Splits an [m, n] product over the threads along its longer side, in whole units of
// `row_unit` rows or `column_unit` columns: product(first_row, rows, first_column, columns)
// computes that part of C, whose elements each see the same sums for any split. A
// product too small to repay starting the team (split_product) runs on the calling thread;
// split_product's measured grain decides, not the elementwise one of parallel_for.
template <class Product>
void split_over_threads(int64_t m, int64_t n, int64_t k, int64_t row_unit, int64_t column_unit, Product&& product) {
  if (!split_product(m, n, k)) return product(int64_t(0), m, int64_t(0), n);
  const bool by_rows = m >= n;
  const int64_t unit = by_rows ? row_unit : column_unit, length = by_rows ? m : n;
  team_for((length + unit - 1) / unit, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * unit, count = std::min(end * unit, length) - first;
    if (by_rows) product(first, count, int64_t(0), n);
    else product(int64_t(0), m, first, count);
  });
}

}  // namespace qkv::kernels
