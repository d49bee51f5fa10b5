// kernels::block_footprint: the groups of query rows and of keys that the fused attention
// kernel's products compute must hold every pair the mask leaves visible (a pair outside
// would lose its score), and on a causal block they must skip the hidden triangle.
#include <catch2/catch.hpp>

#include <array>
#include <memory>
#include <vector>

#include "core/masks.h"
#include "core/ops/block_footprint.h"
#include "core/ops/vector_tile.h"

using namespace qkv;

namespace {
constexpr int64_t kMaskTile = 64;  // as core/ops/attention.cpp classifies

bool in_query_groups(const kernels::BlockFootprint& f, int64_t r, int64_t c) {
  for (const auto& g : f.queries)
    if (r >= g.first && r < g.first + g.count && c >= g.lo && c < g.hi) return true;
  return false;
}
bool in_key_groups(const kernels::BlockFootprint& f, int64_t r, int64_t c) {
  for (const auto& g : f.keys)
    if (c >= g.first && c < g.first + g.count && r >= g.lo && r < g.hi) return true;
  return false;
}
int64_t query_area(const kernels::BlockFootprint& f) {
  int64_t area = 0;
  for (const auto& g : f.queries) area += g.count * (g.hi - g.lo);
  return area;
}
}  // namespace

TEST_CASE("block footprints hold every visible pair of each mask, partial strips included", "[kernels][flex]") {
  std::vector<int64_t> document(700);
  for (int64_t i = 0; i < 700; ++i) document[static_cast<size_t>(i)] = i / 97;
  const std::vector<std::shared_ptr<const MaskMod>> masks{causal_mask(), sliding_window_mask(37, true),
                                                          sliding_window_mask(50, false), prefix_mask(70),
                                                          document_mask(document, true)};
  // Blocks at the diagonal, below and above it, of heights and widths that are not whole
  // strips (kTileRows) or tiles.
  const std::vector<std::array<int64_t, 4>> blocks{{0, 60, 0, 64},   {120, 60, 0, 192}, {300, 31, 250, 100},
                                                   {480, 32, 0, 512}, {60, 60, 128, 64}, {7, 53, 3, 301}};
  for (const auto& mask : masks)
    for (const auto& [q0, rows, k0, cols] : blocks) {
      const kernels::BlockFootprint f = kernels::block_footprint(mask.get(), 0, 0, q0, rows, k0, cols, kMaskTile);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) {
          if (!mask->visible(0, 0, q0 + r, k0 + c)) continue;
          INFO("block q0 " << q0 << " rows " << rows << " k0 " << k0 << " cols " << cols << ", pair " << r << ", " << c);
          REQUIRE(in_query_groups(f, r, c));
          REQUIRE(in_key_groups(f, r, c));
        }
      // Groups tile the block's rows and keys once each, in order.
      int64_t next = 0;
      for (const auto& g : f.queries) {
        REQUIRE(g.first == next);
        next += g.count;
      }
      REQUIRE(next == rows);
      next = 0;
      for (const auto& g : f.keys) {
        REQUIRE(g.first == next);
        next += g.count;
      }
      REQUIRE(next == cols);
    }
}

TEST_CASE("a causal diagonal block computes about its triangle, an unmasked one all of it", "[kernels][flex]") {
  // Queries 0..59 against keys 0..63: the triangle holds 60 * 61 / 2 = 1830 visible
  // pairs. Whole vectors of keys per strip keep the computed area well under rows * cols =
  // 3840.
  const auto causal = causal_mask();
  const kernels::BlockFootprint f = kernels::block_footprint(causal.get(), 0, 0, 0, 60, 0, 64, kMaskTile);
  CHECK(query_area(f) >= 1830);
  CHECK(query_area(f) <= 2700);
  const kernels::BlockFootprint full = kernels::block_footprint(nullptr, 0, 0, 0, 60, 0, 64, kMaskTile);
  REQUIRE(full.queries.size() == 1);
  CHECK(query_area(full) == 60 * 64);
  // A block wholly below the diagonal is one rectangle each way.
  const kernels::BlockFootprint below = kernels::block_footprint(causal.get(), 0, 0, 300, 60, 0, 256, kMaskTile);
  REQUIRE(below.queries.size() == 1);
  REQUIRE(below.keys.size() == 1);
  CHECK(query_area(below) == 60 * 256);
}
