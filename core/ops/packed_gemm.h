// A matrix product for large operands, BLIS-style: blocks of A and B are first copied
// ("packed") into buffers laid out for the register tile, sized from the caches of the CPU
// it runs on, then reused across the tile loop. Internal.
//
// The direct kernel (direct_gemm.h) reads B's rows in place; once the block of B it reuses
// across C's rows falls out of the L2 cache, or its rows lie far apart in memory, every
// tile waits on memory. Here the loops are (Goto's and BLIS's, with the roles of the two
// caches chosen for a tile that is wider than tall):
//   for each depth block of kc rows of B (kc: one tile's rows of A, kTileRows x kc, fill a
//       quarter of the L1 cache),
//     for each block of mc rows of A (mc x kc: half the L3 cache, or the L2 without one),
//       pack it as kTileRows-row panels,
//       for each block of nc columns of B (kc x nc: half the L2 cache), pack it as
//           kTileColumns-column panels,
//         for each panel of A (it stays in the L1 cache), for each panel of B (from L2):
//           one register tile of C.
#pragma once

#include <cstdint>

#include "core/cpu_caches.h"
#include "core/ops/direct_gemm.h"

namespace qkv::kernels {

// The block sizes above, for caches of the given sizes.
struct PackedBlocks {
  int64_t depth;    // kc
  int64_t rows;     // mc, a multiple of kTileRows
  int64_t columns;  // nc, a multiple of kTileColumns
};
PackedBlocks packed_blocks(const CpuCaches& caches);

// C = alpha A B, or C += alpha A B when `accumulate`, plus `bias` [n] on every row: A is
// [m, k] and B is [k, n], both with any strides (a stored transpose is packed like any
// other), C is [m, n] row-major with rows ldc apart. Single-threaded.
void packed_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                 int64_t ldc, bool accumulate, const Scalar* bias, const PackedBlocks& blocks);

// The same split over the threads in blocks of whole tiles of C's rows (or of its columns
// when C is wider than tall). The depth blocks and the tiles are the same for every split,
// so each element of C is summed in the same order whatever the number of threads.
void parallel_packed_gemm(int64_t m, int64_t n, int64_t k, Scalar alpha, StridedMatrix a, StridedMatrix b, Scalar* c,
                          int64_t ldc, bool accumulate, const Scalar* bias, const PackedBlocks& blocks);

}  // namespace qkv::kernels
