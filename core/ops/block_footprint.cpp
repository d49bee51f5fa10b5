#include "core/ops/block_footprint.h"

#include <algorithm>
#include <limits>

#include "core/ops/vector_tile.h"

namespace qkv::kernels {
namespace {

using Block = MaskMod::Block;

// [lo, hi), empty until covered.
struct Span {
  int64_t lo = std::numeric_limits<int64_t>::max(), hi = 0;
  void cover(int64_t a, int64_t b) {
    lo = std::min(lo, a);
    hi = std::max(hi, b);
  }
  bool empty() const { return lo >= hi; }
  int64_t size() const { return empty() ? 0 : hi - lo; }
};

int64_t strips(int64_t length) { return (length + kTileRows - 1) / kTileRows; }

// Consecutive strips with the same span share one product: a product per strip would
// reload B's panel from the L2 cache for each one. Strips with different spans are not
// merged: a rectangle over them would compute what neither needs. (Merging up to 1/8 or
// 1/32 of extra work was tried on a causal step: 1/8 ran 2-3% slower, 1/32 the same as
// this rule, which needs no number.)
std::vector<StripGroup> grouped(const std::vector<Span>& spans, int64_t length) {
  std::vector<StripGroup> groups;
  for (int64_t s = 0; s < static_cast<int64_t>(spans.size()); ++s) {
    const int64_t first = s * kTileRows, count = std::min<int64_t>(kTileRows, length - first);
    const Span span = spans[static_cast<size_t>(s)];
    const int64_t lo = span.empty() ? 0 : span.lo, hi = span.empty() ? 0 : span.hi;
    if (!groups.empty() && groups.back().lo == lo && groups.back().hi == hi) groups.back().count += count;
    else groups.push_back({first, count, lo, hi});
  }
  return groups;
}

}  // namespace

BlockFootprint block_footprint(const MaskMod* mask, int64_t batch, int64_t head, int64_t q0, int64_t rows, int64_t k0,
                               int64_t cols, int64_t mask_tile) {
  if (!mask) return {{{0, rows, 0, cols}}, {{0, cols, 0, rows}}};
  std::vector<Span> query_spans(static_cast<size_t>(strips(rows))), key_spans(static_cast<size_t>(strips(cols)));
  auto cover_keys = [&](int64_t c0, int64_t c1, int64_t r0, int64_t r1) {  // keys [c0, c1) seen by rows [r0, r1)
    for (int64_t s = c0 / kTileRows; s < strips(c1); ++s) key_spans[static_cast<size_t>(s)].cover(r0, r1);
  };
  for (int64_t c0 = 0; c0 < cols; c0 += mask_tile) {
    const int64_t c1 = std::min(cols, c0 + mask_tile);
    const Block kind = mask->classify(batch, head, q0, q0 + rows, k0 + c0, k0 + c1);
    if (kind == Block::hidden) continue;
    if (kind == Block::visible) {
      for (Span& span : query_spans) span.cover(c0, c1);
      cover_keys(c0, c1, 0, rows);
      continue;
    }
    // A mixed tile: asked again strip by strip, keys a vector at a time for the queries'
    // spans (the scores' columns stay whole vectors) and a strip at a time for the keys'.
    for (int64_t s = 0; s < strips(rows); ++s) {
      const int64_t r0 = s * kTileRows, r1 = std::min<int64_t>(rows, r0 + kTileRows);
      for (int64_t c = c0; c < c1; c += kLanes) {
        const int64_t c_end = std::min(c1, c + kLanes);
        if (mask->classify(batch, head, q0 + r0, q0 + r1, k0 + c, k0 + c_end) != Block::hidden)
          query_spans[static_cast<size_t>(s)].cover(c, c_end);
      }
      for (int64_t c = c0; c < c1; c = std::min(c1, (c / kTileRows + 1) * kTileRows)) {
        const int64_t c_end = std::min(c1, (c / kTileRows + 1) * kTileRows);
        if (mask->classify(batch, head, q0 + r0, q0 + r1, k0 + c, k0 + c_end) != Block::hidden)
          cover_keys(c, c_end, r0, r1);
      }
    }
  }
  return {grouped(query_spans, rows), grouped(key_spans, cols)};
}

}  // namespace qkv::kernels
