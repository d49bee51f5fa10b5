// What a mask leaves of one block of fused attention, in the shapes the products can skip.
// The kernel asks the mask about whole tiles of keys, so a causal block on the diagonal
// used to compute its full square; here the visible part is traced in register-tile strips
// (kernels::kTileRows queries or keys at a time), and consecutive strips that need the same
// span are grouped into one product. Internal to core/ops/attention.cpp.
#pragma once

#include <cstdint>
#include <vector>

#include "core/score_mod.h"

namespace qkv::kernels {

// Rows [first, first + count) of the block (queries, or keys) and the span [lo, hi) of the
// other axis they need. Everything the mask leaves visible lies inside some group.
struct StripGroup {
  int64_t first, count, lo, hi;
};

struct BlockFootprint {
  // Query rows with the keys they see, rounded out to whole vectors: the scores
  // (q k^T, dO v^T) compute those columns, the products over keys (P V, dS K) that depth.
  std::vector<StripGroup> queries;
  // Keys with the queries that see them: the depth of P^T dO and dS^T Q.
  std::vector<StripGroup> keys;
};

// The block of queries q0 .. q0 + rows - 1 against keys k0 .. k0 + cols - 1 of one
// (batch, head); positions in the groups are relative to the block. `mask_tile` is the
// width of key tiles the kernel classifies; finer questions are asked only inside mixed
// ones. A null mask leaves the whole block, one group each way.
BlockFootprint block_footprint(const MaskMod* mask, int64_t batch, int64_t head, int64_t q0, int64_t rows, int64_t k0,
                               int64_t cols, int64_t mask_tile);

}  // namespace qkv::kernels
