#include "core/ops/packed_gemm.h"

#include "core/ops/aligned_buffer.h"
#include "core/ops/vector_tile.h"
#include "core/parallel.h"

#include <algorithm>
#include <cstdlib>

namespace qkv::kernels {
namespace {

int64_t at_least_one_multiple(int64_t bytes, int64_t multiple) {
  return std::max(multiple, bytes / multiple * multiple);
}


// Panels of A: kTileRows rows each, zero rows past the last. A row-major A is packed
// row by row ([r][p], each of the panel's rows `depth` long); a stored transpose depth
// by depth ([p][r], kTileRows entries per step): either way the copy reads A's contiguous
// runs. A stored transpose is packed kLanes depth steps at a time across all its panels:
// those steps' rows of A stay in the L1 cache while every panel takes its entries from
// them (one panel at a time through the whole depth read each line of A from beyond the
// L2 again for each of the two or three panels it feeds, when A's rows lie far apart).
void pack_a(StridedMatrix a, int64_t rows, int64_t depth, bool by_depth, Scalar* out) {
  const int64_t panel_size = kTileRows * depth;
  if (by_depth) {
    for (int64_t p0 = 0; p0 < depth; p0 += kLanes) {
      const int64_t p1 = std::min<int64_t>(p0 + kLanes, depth);
      Scalar* panel = out;
      for (int64_t i0 = 0; i0 < rows; i0 += kTileRows, panel += panel_size) {
        const int64_t height = std::min<int64_t>(kTileRows, rows - i0);
        for (int64_t p = p0; p < p1; ++p) {
          Scalar* step = panel + p * kTileRows;
          const Scalar* from = a.data + i0 * a.row_stride + p * a.col_stride;
          for (int64_t r = 0; r < height; ++r) step[r] = from[r * a.row_stride];
          std::fill(step + height, step + kTileRows, Scalar(0));
        }
      }
    }
    return;
  }
  for (int64_t i0 = 0; i0 < rows; i0 += kTileRows, out += panel_size) {
    const int64_t height = std::min<int64_t>(kTileRows, rows - i0);
    for (int64_t r = 0; r < height; ++r) std::copy_n(a.data + (i0 + r) * a.row_stride, depth, out + r * depth);
    std::fill(out + height * depth, out + panel_size, Scalar(0));
  }
}

// Panels of B: kTileColumns columns each, row p of a panel at p * kTileColumns, zero
// columns past the last. A stored transpose is read along its rows (B's columns).
void pack_b(StridedMatrix b, int64_t depth, int64_t cols, Scalar* out) {
  const int64_t panel_size = depth * kTileColumns;
  for (int64_t j0 = 0; j0 < cols; j0 += kTileColumns, out += panel_size) {
    const int64_t width = std::min(kTileColumns, cols - j0);
    if (b.col_stride == 1) {
      for (int64_t p = 0; p < depth; ++p) {
        Scalar* row = out + p * kTileColumns;
        const Scalar* from = b.data + p * b.row_stride + j0;
        if (width == kTileColumns) {  // in registers: a call to memmove per row cost more than the copy
          for (int v = 0; v < kTileVectors; ++v) store_vector(row + v * kLanes, load_vector(from + v * kLanes));
          continue;
        }
        std::copy_n(from, width, row);
        std::fill(row + width, row + kTileColumns, Scalar(0));
      }
    } else {
      // kLanes depth steps at a time: the kLanes rows of the panel being written stay in
      // the L1 cache while every column fills its entries in them (a whole column at once
      // wrote to `depth` rows, more than the L1 holds).
      if (width < kTileColumns) std::fill(out, out + panel_size, Scalar(0));
      for (int64_t p0 = 0; p0 < depth; p0 += kLanes) {
        const int64_t steps = std::min<int64_t>(kLanes, depth - p0);
        for (int64_t j = 0; j < width; ++j) {
          const Scalar* column = b.data + (j0 + j) * b.col_stride + p0 * b.row_stride;
          for (int64_t p = 0; p < steps; ++p) out[(p0 + p) * kTileColumns + j] = column[p * b.row_stride];
        }
      }
    }
  }
}

using Tile = Vec[kTileRows][kTileVectors];

// acc = one panel of A times one panel of B over `depth`: per step, one row of the B
// panel is loaded and each of A's kTileRows entries multiplies it. ByDepth: A's panel is
// [p][r], else [r][p].
// The panel (kc x kTileColumns) is larger than the L1 and streams from the L2, so its rows
// are fetched kPrefetchSteps ahead: without the hint the tile waited on them (the products
// of docs/performance.md's kernels table ran 3-8% slower on the Intel Xeon).
template <bool ByDepth>
void multiply_panels(int64_t depth, const Scalar* a, const Scalar* b, Tile& acc) {
  const int64_t row_stride = ByDepth ? 1 : depth, step = ByDepth ? kTileRows : 1;
  for (auto& row : acc)
    for (Vec& v : row) v = Vec{};
  for (int64_t p = 0; p < depth; ++p, a += step, b += kTileColumns) {
    Vec row[kTileVectors];
    for (int v = 0; v < kTileVectors; ++v) prefetch(b, kPrefetchSteps * kTileColumns + v * kLanes);
    for (int v = 0; v < kTileVectors; ++v) row[v] = load_vector(b + v * kLanes);
    for (int r = 0; r < kTileRows; ++r) {
      const Scalar entry = a[r * row_stride];
      for (int v = 0; v < kTileVectors; ++v) acc[r][v] += entry * row[v];
    }
  }
}

// C's tile is fetched for writing while its sums are made: written after the tile's
// depth, it would otherwise wait on C's lines from beyond the L2.
void prefetch_tile(Scalar* c, int64_t ldc, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < kTileVectors; ++v) prefetch<true>(c, r * ldc + v * kLanes);
}

// C's tile = alpha acc, plus what C held when `add`, plus the bias when given.
void write_full_tile(const Tile& acc, Scalar alpha, Scalar* c, int64_t ldc, bool add, const Scalar* bias) {
  for (int r = 0; r < kTileRows; ++r)
    for (int v = 0; v < kTileVectors; ++v) {
      Scalar* out = c + r * ldc + v * kLanes;
      Vec result = scaled(alpha, acc[r][v]);
      if (add) result += load_vector(out);
      if (bias) result += load_vector(bias + v * kLanes);
      store_vector(out, result);
    }
}

// A tile at C's edge goes through a full-size buffer and the same arithmetic, so an
// element of C gets the same bits whether its tile is whole or cut.
void write_tile(const Tile& acc, Scalar alpha, Scalar* c, int64_t ldc, int64_t rows, int64_t cols, bool add,
                const Scalar* bias) {
  if (rows == kTileRows && cols == kTileColumns) return write_full_tile(acc, alpha, c, ldc, add, bias);
  Scalar buffer[kTileRows * kTileColumns] = {}, bias_row[kTileColumns] = {};
  for (int64_t r = 0; r < rows && add; ++r) std::copy_n(c + r * ldc, cols, buffer + r * kTileColumns);
  if (bias) std::copy_n(bias, cols, bias_row);
  write_full_tile(acc, alpha, buffer, kTileColumns, add, bias ? bias_row : nullptr);
  for (int64_t r = 0; r < rows; ++r) std::copy_n(buffer + r * kTileColumns, cols, c + r * ldc);
}

}  // namespace

// The rule of packed_gemm.h, in bytes of the caches. kc: a panel of A, kTileRows x kc,
// fills a quarter of the L1 (the rest holds the rows of B streaming through and C's tile).
// nc: a packed block of B, kc x nc, half the L2 (the other half for A's panels and C).
// mc: a packed block of A, mc x kc, half the L3; without one, half the L2.
PackedBlocks packed_blocks(const CpuCaches& caches) {
  const int64_t s = sizeof(Scalar);
  const int64_t depth = at_least_one_multiple(caches.l1d / 4 / (kTileRows * s), kLanes);
  const int64_t columns = at_least_one_multiple(caches.l2 / 2 / (depth * s), kTileColumns);
  const int64_t rows = at_least_one_multiple((caches.l3 > 0 ? caches.l3 : caches.l2) / 2 / (depth * s), kTileRows);
  return {depth, rows, columns};
}

void packed_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                 int64_t ldc, bool accumulate, const Scalar* bias, const PackedBlocks& blocks) {
  if (k == 0) {  // an empty sum
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0) + (bias ? bias[j] : 0);
    return;
  }
  // Packing buffers per thread, kept between products; aligned, each row of a panel of B
  // starts a cache line.
  thread_local AlignedBuffer<Scalar> a_buffer, b_buffer;
  const bool a_by_depth = a.col_stride != 1;
  for (int64_t p0 = 0; p0 < k; p0 += blocks.depth) {
    const int64_t depth = std::min(blocks.depth, k - p0);
    // Later depth blocks add to what the first wrote; the last adds the bias (the product's
    // sum, then the bias, as add(matmul(x, W), b)).
    const bool add = accumulate || p0 > 0;
    const Scalar* block_bias = p0 + depth == k ? bias : nullptr;
    for (int64_t i0 = 0; i0 < m; i0 += blocks.rows) {
      const int64_t rows = std::min(blocks.rows, m - i0);
      Scalar* packed_a = a_buffer.reserve((rows + kTileRows - 1) / kTileRows * kTileRows * depth);
      pack_a(a.from(i0, p0), rows, depth, a_by_depth, packed_a);
      for (int64_t j0 = 0; j0 < n; j0 += blocks.columns) {
        const int64_t cols = std::min(blocks.columns, n - j0);
        Scalar* packed_b = b_buffer.reserve((cols + kTileColumns - 1) / kTileColumns * kTileColumns * depth);
        pack_b(b.from(p0, j0), depth, cols, packed_b);
        for (int64_t ir = 0; ir < rows; ir += kTileRows) {
          const Scalar* a_panel = packed_a + ir * depth;
          for (int64_t jr = 0; jr < cols; jr += kTileColumns) {
            Scalar* c_tile = c + (i0 + ir) * ldc + j0 + jr;
            const int64_t tile_rows = std::min<int64_t>(kTileRows, rows - ir);
            prefetch_tile(c_tile, ldc, tile_rows);
            Tile acc;
            const Scalar* b_panel = packed_b + jr * depth;
            if (a_by_depth) multiply_panels<true>(depth, a_panel, b_panel, acc);
            else multiply_panels<false>(depth, a_panel, b_panel, acc);
            write_tile(acc, alpha, c_tile, ldc, tile_rows, std::min(kTileColumns, cols - jr), add,
                       block_bias ? block_bias + j0 + jr : nullptr);
          }
        }
      }
    }
  }
}

void parallel_packed_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                          int64_t ldc, bool accumulate, const Scalar* bias, const PackedBlocks& blocks) {
  split_over_threads(m, n, k, kTileRows, kTileColumns, [&](int64_t i0, int64_t rows, int64_t j0, int64_t columns) {
    packed_gemm(rows, columns, k, alpha, a.from(i0, 0), b.from(0, j0), c + i0 * ldc + j0, ldc, accumulate,
                bias ? bias + j0 : nullptr, blocks);
  });
}

}  // namespace qkv::kernels
