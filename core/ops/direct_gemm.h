// A matrix product that reads its operands where they lie, for the small products of
// attention. Internal.
//
// Eigen's GEMM first copies ("packs") both operands into buffers laid out for its
// micro-kernel. That pays off when the packed blocks are reused many times; the products
// of one attention head ([256 x 64] x [64 x 256] and the like) use them once or twice, and
// there packing took a fifth of the time. This product instead broadcasts A's entries one
// at a time and multiplies them into vectors loaded straight from B's rows, keeping a tile
// of C (kTileRows rows, kTileVectors vectors wide) in registers.
#pragma once

#include <cstdint>

#include "core/cpu_caches.h"
#include "core/tensor.h"

namespace qkv::kernels {

// A matrix read in place: element (i, p) at data[i * row_stride + p * col_stride]. Both
// a row-major matrix (row_stride = its width, col_stride = 1) and the transpose of one
// (row_stride = 1, col_stride = the width) are views of this kind.
struct StridedMatrix {
  const Scalar* data;
  int64_t row_stride, col_stride;
  // A row-major buffer with rows ld apart, read as itself or as its transpose.
  static StridedMatrix row_major(const Scalar* data, int64_t ld, bool transposed = false) {
    return transposed ? StridedMatrix{data, 1, ld} : StridedMatrix{data, ld, 1};
  }
  // The same matrix from row i and column p on.
  StridedMatrix from(int64_t i, int64_t p) const {
    return {data + i * row_stride + p * col_stride, row_stride, col_stride};
  }
};

// direct_gemm takes B `depth` rows at a time and A `rows` rows at a time. The block of B
// that every tile of a column block reads again (depth x kTileColumns floats) fills the L1
// data cache; the block of A that every column block reads again (rows x depth) fills a
// quarter of the L2 cache, beside B's rows streaming through it.
struct DirectBlocks {
  int64_t depth;  // a multiple of kLanes
  int64_t rows;   // a multiple of kTileRows
};
DirectBlocks direct_blocks(const CpuCaches& caches);

// C = alpha A B, or C += alpha A B when `accumulate`: A is [m, k] (any strides), B is
// [k, n] row-major with rows ldb apart, C is [m, n] row-major with rows ldc apart. A
// `bias` [n] is added to every row of C as it is written (a linear layer's bias, without a
// pass of its own). Single-threaded: callers run it inside their own parallel loops.
void direct_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, const Scalar* b, int64_t ldb,
                 Scalar* c, int64_t ldc, bool accumulate, const Scalar* bias = nullptr);

// The same split over the threads: in blocks of C's rows, or of its columns when C is
// wider than tall, each thread one direct_gemm. B is row-major (col_stride 1) or a stored
// transpose (row_stride 1; q k^T, G W^T): each thread then first copies the columns of B
// it needs into rows. It likewise copies B, or A stored transposed, whose rows share one
// set of the L1 (below), into rows that do not.
void parallel_direct_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                          int64_t ldc, bool accumulate, const Scalar* bias = nullptr);

// How many of `rows` rows `stride_bytes` apart start in one set of the L1 cache. A cache
// of `ways` ways puts a line in the set its address modulo the way size (l1d / ways) names,
// so the rows' starts take way size / gcd(stride, way size) places in it: rows a whole
// number of way sizes apart (B 1024 floats wide with 4 KiB ways) all share one set, rows
// half a way apart two, and the L1 holds `ways` rows per place however large it is. 0
// where the L1's associativity is unknown.
int64_t rows_per_l1_set(int64_t stride_bytes, int64_t rows, const CpuCaches& caches);

// Whether more than `ways` rows `stride_bytes` apart all fall into one set of the L1.
bool rows_share_one_l1_set(int64_t stride_bytes, int64_t rows, const CpuCaches& caches);

// out [cols, rows] = x^T for a row-major x [rows, cols] whose rows are ld apart, the rows
// of out `out_ld` apart: the layout direct_gemm needs for a right-hand operand that is a
// transposed matrix (q k^T, G W^T).
void transpose(const Scalar* x, int64_t rows, int64_t cols, int64_t ld, Scalar* out, int64_t out_ld);

// The row stride, in elements, for a buffer of rows `width` elements wide that direct_gemm
// reads as B: whole vectors, and an odd number of cache lines. A cache picks a line's set
// from its address, so rows a power of two bytes apart (512 floats: 2 KiB) all fall into
// the same few sets, and the L1 holds only a fraction of a B panel; with an odd number of
// lines between rows, consecutive rows take different sets.
int64_t spread_stride(int64_t width);

}  // namespace qkv::kernels
