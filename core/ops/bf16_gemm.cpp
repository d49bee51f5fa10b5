#include "core/ops/bf16_gemm.h"

#ifndef QKV_DOUBLE

#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "core/ops/bf16.h"
#include "core/ops/vector_tile.h"
#include "core/parallel.h"

namespace qkv::kernels {
namespace {

// Two bfloat16 values in one 32-bit word, the even depth in the low half (the order
// vdpbf16ps pairs them in).
uint32_t bf16_pair(float even, float odd) {
  return static_cast<uint32_t>(float_to_bf16(even)) | static_cast<uint32_t>(float_to_bf16(odd)) << 16;
}

// A as [m][pairs]. A stored transpose is read 16 rows at a time, so each step along the
// depth reads a contiguous run of A's buffer.
void pack_bf16_a(StridedMatrix a, int64_t m, int64_t k, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2;
  auto at = [&](int64_t i, int64_t p) { return p < k ? a.data[i * a.row_stride + p * a.col_stride] : 0.0f; };
  constexpr int64_t kRows = 16;
  parallel_for((m + kRows - 1) / kRows, kRows * k, [&](int64_t begin, int64_t end) {
    for (int64_t i0 = begin * kRows; i0 < std::min(m, end * kRows); i0 += kRows) {
      const int64_t i1 = std::min(m, i0 + kRows);
      if (a.col_stride == 1) {
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t q = 0; q < pairs; ++q) out[i * pairs + q] = bf16_pair(at(i, 2 * q), at(i, 2 * q + 1));
      } else {
        for (int64_t q = 0; q < pairs; ++q)
          for (int64_t i = i0; i < i1; ++i) out[i * pairs + q] = bf16_pair(at(i, 2 * q), at(i, 2 * q + 1));
      }
    }
  });
}

// B as [panel][pairs][kBf16PanelColumns], zero columns past n.
void pack_bf16_b(StridedMatrix b, int64_t k, int64_t n, uint32_t* out) {
  const int64_t pairs = (k + 1) / 2, panels = (n + kBf16PanelColumns - 1) / kBf16PanelColumns;
  auto at = [&](int64_t p, int64_t j) { return p < k && j < n ? b.data[p * b.row_stride + j * b.col_stride] : 0.0f; };
  parallel_for(panels, pairs * kBf16PanelColumns, [&](int64_t begin, int64_t end) {
    for (int64_t panel = begin; panel < end; ++panel) {
      uint32_t* dst = out + panel * pairs * kBf16PanelColumns;
      const int64_t j0 = panel * kBf16PanelColumns;
      // Walk B's buffer in its own order: along rows when row-major, along columns when a
      // stored transpose.
      if (b.col_stride == 1) {
        for (int64_t q = 0; q < pairs; ++q)
          for (int64_t j = 0; j < kBf16PanelColumns; ++j)
            dst[q * kBf16PanelColumns + j] = bf16_pair(at(2 * q, j0 + j), at(2 * q + 1, j0 + j));
      } else {
        for (int64_t j = 0; j < kBf16PanelColumns; ++j)
          for (int64_t q = 0; q < pairs; ++q)
            dst[q * kBf16PanelColumns + j] = bf16_pair(at(2 * q, j0 + j), at(2 * q + 1, j0 + j));
      }
    }
  });
}

// One tile's job: `rows` rows of packed A (from the current depth pair, rows `lda` pairs
// apart) times one panel of packed B over `pairs` depth pairs, written to C (rows ldc
// apart, `cols` valid columns) as alpha acc, plus C's value when `add`, plus the bias.
struct Bf16Tile {
  const uint32_t* a;
  int64_t lda;
  const uint32_t* b;
  int64_t pairs;
  float alpha;
  float* c;
  int64_t ldc, cols;
  bool add;
  const float* bias;  // or null
};

template <int Rows>
__attribute__((target("avx512f,avx512bf16"))) void bf16_tile_avx512(const Bf16Tile& t) {
  constexpr int kVectors = kBf16PanelColumns / 16;
  __m512 acc[Rows][kVectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_setzero_ps();
  const uint32_t* b = t.b;
  for (int64_t q = 0; q < t.pairs; ++q, b += kBf16PanelColumns) {
    __m512bh row[kVectors];
    for (int v = 0; v < kVectors; ++v) row[v] = (__m512bh)_mm512_loadu_si512(b + v * 16);
    for (int r = 0; r < Rows; ++r) {
      const __m512bh pair = (__m512bh)_mm512_set1_epi32(static_cast<int>(t.a[r * t.lda + q]));
      for (int v = 0; v < kVectors; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], pair, row[v]);
    }
  }
  const __m512 alpha = _mm512_set1_ps(t.alpha);
  for (int v = 0; v < kVectors; ++v) {
    const int64_t valid = std::clamp<int64_t>(t.cols - v * 16, 0, 16);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    if (!mask) break;
    const __m512 bias = t.bias ? _mm512_maskz_loadu_ps(mask, t.bias + v * 16) : _mm512_setzero_ps();
    for (int r = 0; r < Rows; ++r) {
      float* out = t.c + r * t.ldc + v * 16;
      __m512 x = _mm512_fmadd_ps(alpha, acc[r][v], bias);
      if (t.add) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, out));
      _mm512_mask_storeu_ps(out, mask, x);
    }
  }
}

void bf16_tile_portable(const Bf16Tile& t, int64_t rows) {
  float acc[kBf16TileRows][kBf16PanelColumns] = {};
  for (int64_t q = 0; q < t.pairs; ++q) {
    const uint32_t* b = t.b + q * kBf16PanelColumns;
    for (int64_t r = 0; r < rows; ++r) {
      const uint32_t pair = t.a[r * t.lda + q];
      const float even = bf16_to_float(static_cast<uint16_t>(pair)), odd = bf16_to_float(static_cast<uint16_t>(pair >> 16));
      for (int64_t j = 0; j < kBf16PanelColumns; ++j)
        acc[r][j] += even * bf16_to_float(static_cast<uint16_t>(b[j])) + odd * bf16_to_float(static_cast<uint16_t>(b[j] >> 16));
    }
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < t.cols; ++j) {
      float& out = t.c[r * t.ldc + j];
      out = t.alpha * acc[r][j] + (t.bias ? t.bias[j] : 0.0f) + (t.add ? out : 0.0f);
    }
}

// The last rows % kBf16TileRows rows, as one tile of their exact height.
template <int Rows>
void bf16_last_rows_avx512(const Bf16Tile& t, int64_t rows) {
  if constexpr (Rows > 0) {
    if (rows == Rows) bf16_tile_avx512<Rows>(t);
    else bf16_last_rows_avx512<Rows - 1>(t, rows);
  }
}

void run_tile(const Bf16Tile& t, int64_t rows, Bf16Kernel kernel) {
  if (kernel == Bf16Kernel::portable) return bf16_tile_portable(t, rows);
  if (rows == kBf16TileRows) bf16_tile_avx512<kBf16TileRows>(t);
  else bf16_last_rows_avx512<kBf16TileRows - 1>(t, rows);
}

}  // namespace

Bf16Kernel best_bf16_kernel() {
  static const Bf16Kernel best = __builtin_cpu_supports("avx512bf16") ? Bf16Kernel::avx512_bf16 : Bf16Kernel::portable;
  return best;
}

const char* bf16_kernel_name(Bf16Kernel kernel) {
  return kernel == Bf16Kernel::avx512_bf16 ? "avx512_bf16" : "portable";
}

int64_t bf16_depth_block(const CpuCaches& caches) {
  const int64_t pair_bytes = sizeof(uint32_t);
  const int64_t by_l1 = caches.l1d / 2 / (kBf16TileRows * pair_bytes);
  const int64_t by_l2 = caches.l2 / 2 / (kBf16PanelColumns * pair_bytes);
  return std::max<int64_t>(16, std::min(by_l1, by_l2));
}

void bf16_gemm(int64_t m, int64_t n, int64_t k, float alpha, StridedMatrix a, StridedMatrix b, float* c,
               const float* bias, Bf16Kernel kernel) {
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * n, n, 0.0f);
    if (bias)
      for (int64_t i = 0; i < m; ++i) std::copy_n(bias, n, c + i * n);
    return;
  }
  const int64_t pairs = (k + 1) / 2, panels = (n + kBf16PanelColumns - 1) / kBf16PanelColumns;
  // Kept between products, per calling thread (a training step repeats its shapes; the
  // products of a batched matmul each pack on their own thread).
  thread_local std::vector<uint32_t> packed_a, packed_b;
  packed_a.resize(static_cast<size_t>(m * pairs));
  packed_b.resize(static_cast<size_t>(panels * pairs * kBf16PanelColumns));
  pack_bf16_a(a, m, k, packed_a.data());
  pack_bf16_b(b, k, n, packed_b.data());
  static const int64_t depth_block = bf16_depth_block(cpu_caches());
  const uint32_t* pa = packed_a.data();
  const uint32_t* pb = packed_b.data();
  // Column blocks are whole panels, so every split sums each element of C in the same order.
  split_over_threads(m, n, k, kBf16TileRows, kBf16PanelColumns, [&](int64_t i0, int64_t rows, int64_t j0, int64_t columns) {
    for (int64_t q0 = 0; q0 < pairs; q0 += depth_block) {
      const int64_t depth = std::min(depth_block, pairs - q0);
      for (int64_t j = j0; j < j0 + columns; j += kBf16PanelColumns) {
        const uint32_t* panel = pb + (j / kBf16PanelColumns) * pairs * kBf16PanelColumns + q0 * kBf16PanelColumns;
        for (int64_t i = i0; i < i0 + rows; i += kBf16TileRows) {
          // Later depth blocks add to what the first wrote, bias included.
          const Bf16Tile t{pa + i * pairs + q0, pairs, panel, depth, alpha, c + i * n + j, n,
                           std::min(kBf16PanelColumns, j0 + columns - j), q0 > 0,
                           q0 == 0 && bias ? bias + j : nullptr};
          run_tile(t, std::min(kBf16TileRows, i0 + rows - i), kernel);
        }
      }
    }
  });
}

}  // namespace qkv::kernels

#endif  // QKV_DOUBLE
