#include "core/ops/direct_gemm.h"

#include "core/ops/aligned_buffer.h"
#include "core/ops/vector_tile.h"
#include "core/parallel.h"

#include <algorithm>
#include <cstring>
#include <numeric>

namespace qkv::kernels {
namespace {

struct Product {
  int64_t k;
  Scalar alpha;
  StridedMatrix a;
  const Scalar* b;
  int64_t ldb;
  Scalar* c;
  int64_t ldc;
  bool accumulate;
  const Scalar* bias;  // or null
  bool fetch_b_ahead;  // B's rows crowd into few sets of the L1 (direct_gemm)
};

// C[i0 .. i0 + Rows, j0 .. j0 + Vectors * kLanes]: for each p, one row of B is loaded once
// and each of the tile's rows adds A(i, p) times it.
template <int Rows, int Vectors, bool FetchBAhead>
void tile_of(const Product& x, int64_t i0, int64_t j0) {
  Vec acc[Rows][Vectors] = {};
  const Scalar* a = x.a.data + i0 * x.a.row_stride;
  const Scalar* b = x.b + j0;
  for (int64_t p = 0; p < x.k; ++p, a += x.a.col_stride, b += x.ldb) {
    Vec row[Vectors];
    if constexpr (FetchBAhead)
      for (int v = 0; v < Vectors; ++v) prefetch(b, kPrefetchSteps * x.ldb + v * kLanes);
    for (int v = 0; v < Vectors; ++v) row[v] = load_vector(b + v * kLanes);
    for (int r = 0; r < Rows; ++r) {
      const Scalar entry = a[r * x.a.row_stride];
      for (int v = 0; v < Vectors; ++v) acc[r][v] += entry * row[v];
    }
  }
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) {
      Scalar* out = x.c + (i0 + r) * x.ldc + j0 + v * kLanes;
      Vec result = scaled(x.alpha, acc[r][v]);
      if (x.accumulate) result += load_vector(out);
      if (x.bias) result += load_vector(x.bias + j0 + v * kLanes);
      store_vector(out, result);
    }
}

template <int Rows, int Vectors>
void tile(const Product& x, int64_t i0, int64_t j0) {
  if (x.fetch_b_ahead) tile_of<Rows, Vectors, true>(x, i0, j0);
  else tile_of<Rows, Vectors, false>(x, i0, j0);
}

// The last m % kTileRows rows of a column block, as one tile of their exact height.
template <int Rows, int Vectors>
void last_rows(const Product& x, int64_t rows, int64_t i0, int64_t j0) {
  if constexpr (Rows > 0) {
    if (rows == Rows) tile<Rows, Vectors>(x, i0, j0);
    else last_rows<Rows - 1, Vectors>(x, rows, i0, j0);
  }
}

// Every row of C for the columns [j0, j0 + Vectors * kLanes). B's block of columns is
// read once per kTileRows rows of C and stays in cache across them.
template <int Vectors>
void column_block(const Product& x, int64_t m, int64_t j0) {
  int64_t i = 0;
  for (; i + kTileRows <= m; i += kTileRows) tile<kTileRows, Vectors>(x, i, j0);
  last_rows<kTileRows - 1, Vectors>(x, m - i, i, j0);
}

// The columns left after the full tiles: whole vectors first (then last_columns).
template <int Vectors>
int64_t last_vectors(const Product& x, int64_t m, int64_t vectors, int64_t j0) {
  if constexpr (Vectors > 0) {
    if (vectors == Vectors) {
      column_block<Vectors>(x, m, j0);
      return j0 + Vectors * kLanes;
    }
    return last_vectors<Vectors - 1>(x, m, vectors, j0);
  }
  return j0;
}

// The last n - j0 < kLanes columns: B's columns are copied into a zero-padded block one
// vector wide, the tiles computed against it into a buffer, and the valid columns added
// into C. (Scalar loops here made products only a few columns wide, the scores of short
// sequences, several times slower than Eigen.)
void last_columns(const Product& x, int64_t m, int64_t j0, int64_t n) {
  const int64_t width = n - j0;
  if (width == 0) return;
  thread_local AlignedBuffer<Scalar> b_block, c_block;
  std::fill_n(b_block.reserve(x.k * kLanes), x.k * kLanes, Scalar(0));
  for (int64_t p = 0; p < x.k; ++p) std::copy_n(x.b + p * x.ldb + j0, width, b_block.data() + p * kLanes);
  c_block.reserve(m * kLanes);
  Product padded = x;
  padded.b = b_block.data();
  padded.ldb = kLanes;
  padded.c = c_block.data();
  padded.ldc = kLanes;
  padded.accumulate = false;
  padded.bias = nullptr;
  padded.fetch_b_ahead = false;
  column_block<1>(padded, m, 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < width; ++j) {
      Scalar& out = x.c[i * x.ldc + j0 + j];
      out = (x.accumulate ? out : 0) + c_block.data()[i * kLanes + j] + (x.bias ? x.bias[j0 + j] : 0);
    }
}

}  // namespace

DirectBlocks direct_blocks(const CpuCaches& caches) {
  const int64_t s = sizeof(Scalar);
  const int64_t depth = std::max<int64_t>(kLanes, caches.l1d / (kTileColumns * s) / kLanes * kLanes);
  const int64_t rows = std::max<int64_t>(kTileRows, caches.l2 / 4 / (depth * s) / kTileRows * kTileRows);
  return {depth, rows};
}

void direct_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, const Scalar* b, int64_t ldb,
                 Scalar* c, int64_t ldc, bool accumulate, const Scalar* bias) {
  if (k == 0)  // an empty sum
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + (bias ? bias[j] : 0);
  const CpuCaches& caches = cpu_caches();
  static const DirectBlocks blocks = direct_blocks(caches);
  // B's rows, read in place, stay in the L1 from one tile to the next only if they spread
  // over its sets. Where more of a depth block's rows share a set than it has ways (a B
  // 512 floats wide: 2 KiB apart, two places in a 4 KiB way), every tile reads them again
  // from the L2, and fetching them ahead hides the wait (Intel Xeon, docs/performance.md:
  // 2048 x 128 x 512 3-6% faster, 128 x 2048 x 512 A^T 2-12%). Elsewhere the hint is
  // wasted work.
  const bool fetch_b_ahead =
      rows_per_l1_set(ldb * int64_t(sizeof(Scalar)), std::min(k, blocks.depth), caches) > caches.l1d_ways;
  for (int64_t p0 = 0; p0 < k; p0 += blocks.depth)
    for (int64_t i0 = 0; i0 < m; i0 += blocks.rows) {
      const int64_t rows = std::min(blocks.rows, m - i0);
      // Later depth blocks add to what the first wrote; the last adds the bias, so that C +
      // bias is the product's sum plus the bias, as add(matmul(x, W), b) makes it.
      const bool last = p0 + blocks.depth >= k;
      const Product x{std::min(blocks.depth, k - p0), alpha, a.from(i0, p0), b + p0 * ldb, ldb, c + i0 * ldc, ldc,
                      accumulate || p0 > 0, last ? bias : nullptr, fetch_b_ahead};
      int64_t j = 0;
      for (; j + kTileColumns <= n; j += kTileColumns) column_block<kTileVectors>(x, rows, j);
      j = last_vectors<kTileVectors - 1>(x, rows, (n - j) / kLanes, j);
      last_columns(x, rows, j, n);
    }
}

int64_t rows_per_l1_set(int64_t stride_bytes, int64_t rows, const CpuCaches& caches) {
  const int64_t way_bytes = caches.l1d_ways > 0 ? caches.l1d / caches.l1d_ways : 0;
  if (stride_bytes <= 0 || way_bytes <= 0 || rows <= 0) return 0;
  const int64_t places = way_bytes / std::gcd(stride_bytes, way_bytes);
  return (rows + places - 1) / places;
}

bool rows_share_one_l1_set(int64_t stride_bytes, int64_t rows, const CpuCaches& caches) {
  return rows > caches.l1d_ways && rows_per_l1_set(stride_bytes, rows, caches) == rows;
}

namespace {

// Room for a copy of `size` elements: a buffer the thread keeps when the copy fits the L2
// cache (a tensor from the pool made a 16 x 32 x 16 product 1.4x slower), else a tensor
// from the pool, which can give the memory back.
Scalar* copy_room(AlignedBuffer<Scalar>& kept, Tensor& pooled, int64_t size) {
  if (size * int64_t(sizeof(Scalar)) <= cpu_caches().l2) return kept.reserve(size);
  pooled = Tensor::empty({size});
  return pooled.data();
}

void copy_rows(const Scalar* x, int64_t rows, int64_t cols, int64_t ld, Scalar* out, int64_t out_ld) {
  for (int64_t i = 0; i < rows; ++i) std::memcpy(out + i * out_ld, x + i * ld, cols * sizeof(Scalar));
}

}  // namespace

void parallel_direct_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                          int64_t ldc, bool accumulate, const Scalar* bias) {
  // Each part copies what it reads of an operand that direct_gemm cannot read in place
  // into rows an odd number of cache lines apart (spread_stride): one copy that every
  // thread then read crossed from the caches of the core that wrote it, which cost more
  // than the copy (a 128 x 64 x 128 product with B stored transposed ran at 130 GFLOP/s
  // on two threads of the Zen 5, 200 once each thread copied its own). Copied:
  // - B stored transposed (q k^T, G W^T), whose columns direct_gemm needs as rows;
  // - B, or A stored transposed (a weight gradient X^T G), whose rows direct_gemm rereads
  //   lying a whole number of L1 ways apart, where they share one set of the L1
  //   (rows_share_one_l1_set): 1024 x 128 x 1024 A^T went from 47 to 66 GFLOP/s on the
  //   Zen 1 of docs/performance.md. The copy holds the same numbers, summed in the same
  //   order: the result keeps its bits.
  static const int64_t depth = direct_blocks(cpu_caches()).depth;
  const int64_t s = sizeof(Scalar), reread_rows = std::min(k, depth);
  const bool copy_a = a.row_stride == 1 && rows_share_one_l1_set(a.col_stride * s, reread_rows, cpu_caches());
  const bool copy_b =
      b.col_stride != 1 || rows_share_one_l1_set(b.row_stride * s, reread_rows, cpu_caches());
  // Blocks of one tile's height or one vector's width: coarser blocks split C unevenly
  // (128 rows in blocks of 48 give one thread twice the other's work).
  split_over_threads(m, n, k, kTileRows, kLanes, [&](int64_t i0, int64_t rows, int64_t j0, int64_t columns) {
    thread_local AlignedBuffer<Scalar> kept_a, kept_b;
    Tensor pooled_a, pooled_b;
    StridedMatrix lhs = a.from(i0, 0);
    if (copy_a) {
      const int64_t lda = spread_stride(rows);
      Scalar* copy = copy_room(kept_a, pooled_a, k * lda);
      copy_rows(lhs.data, k, rows, lhs.col_stride, copy, lda);
      lhs = StridedMatrix::row_major(copy, lda, true);
    }
    const StridedMatrix part = b.from(0, j0);
    const Scalar* rows_of_b = part.data;
    int64_t ldb = part.row_stride;
    if (copy_b) {
      ldb = spread_stride(columns);
      Scalar* copy = copy_room(kept_b, pooled_b, k * ldb);
      if (part.col_stride == 1) copy_rows(part.data, k, columns, part.row_stride, copy, ldb);
      else transpose(part.data, columns, k, part.col_stride, copy, ldb);
      rows_of_b = copy;
    }
    direct_gemm(rows, columns, k, alpha, lhs, rows_of_b, ldb, c + i0 * ldc + j0, ldc, accumulate,
                bias ? bias + j0 : nullptr);
  });
}

int64_t spread_stride(int64_t width) {
  static const int64_t line = std::max<int64_t>(kLanes, cpu_caches().line / int64_t(sizeof(Scalar)));
  const int64_t lines = (width + line - 1) / line;
  return (lines % 2 ? lines : lines + 1) * line;
}

namespace {

// The edge of a transpose: out[j][i] = x[i][j] for i in [i0, i1), j in [j0, j1).
void transpose_scalars(const Scalar* x, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t ld, Scalar* out,
                       int64_t out_ld) {
  for (int64_t j = j0; j < j1; ++j)
    for (int64_t i = i0; i < i1; ++i) out[j * out_ld + i] = x[i * ld + j];
}

#if defined(__AVX__) && !defined(QKV_DOUBLE)
#define QKV_TRANSPOSE_BLOCKS 1
constexpr int64_t kTransposeBlock = 8;
// An 8 x 8 block of floats in registers: eight row loads, three rounds of shuffles, eight
// row stores, where the scalar loop loads and stores each element on its own.
void transpose_block(const float* x, int64_t ld, float* out, int64_t out_ld) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(x + i * ld);
  for (int i = 0; i < 8; i += 2) {  // pairs of rows interleaved
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {  // then quadruples
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {  // then the two 128-bit halves
    _mm256_storeu_ps(out + i * out_ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(out + (i + 4) * out_ld, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

}  // namespace

// 16 rows of x at a time: their lines stay in the L1 cache while each of x's columns is
// read across them (Eigen's transposing copy walks one whole column at a time, a cache miss
// per element once x outgrows the L1 cache). Split over the threads by blocks of rows.
void transpose(const Scalar* x, int64_t rows, int64_t cols, int64_t ld, Scalar* out, int64_t out_ld) {
  constexpr int64_t kRows = 16;
  parallel_for((rows + kRows - 1) / kRows, kRows * cols, [&](int64_t begin, int64_t end) {
    for (int64_t i0 = begin * kRows; i0 < std::min(rows, end * kRows); i0 += kRows) {
      const int64_t i1 = std::min(rows, i0 + kRows);
#ifdef QKV_TRANSPOSE_BLOCKS
      const int64_t whole_rows = i0 + (i1 - i0) / kTransposeBlock * kTransposeBlock;
      const int64_t whole_cols = cols / kTransposeBlock * kTransposeBlock;
      for (int64_t j = 0; j < whole_cols; j += kTransposeBlock)
        for (int64_t i = i0; i < whole_rows; i += kTransposeBlock)
          transpose_block(x + i * ld + j, ld, out + j * out_ld + i, out_ld);
      transpose_scalars(x, i0, whole_rows, whole_cols, cols, ld, out, out_ld);
      transpose_scalars(x, whole_rows, i1, 0, cols, ld, out, out_ld);
#else
      transpose_scalars(x, i0, i1, 0, cols, ld, out, out_ld);
#endif
    }
  });
}

}  // namespace qkv::kernels
