#include "core/ops/bf16_gemm.h"

#ifndef QKV_DOUBLE

#include <immintrin.h>

#if defined(__linux__) && defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define QKV_AMX_POSSIBLE 1
#endif

#include <algorithm>
#include <stdexcept>
#include <string>

#include "core/ops/aligned_buffer.h"
#include "core/ops/bf16.h"
#include "core/ops/vector_tile.h"
#include "core/parallel.h"

namespace qkv::kernels {
namespace {

// Two bfloat16 values in one 32-bit word, the even depth in the low half (the order
// vdpbf16ps pairs them in).
uint32_t bf16_pair(float even, float odd) {
  return static_cast<uint32_t>(operand_to_bf16(even)) | static_cast<uint32_t>(operand_to_bf16(odd)) << 16;
}

// A as [m][pairs], rows `ld` >= pairs words apart. A stored transpose is read 16 rows at
// a time, so each step along the depth reads a contiguous run of A's buffer.
void pack_bf16_a_scalar(StridedMatrix a, int64_t m, int64_t k, uint32_t* out, int64_t ld) {
  const int64_t pairs = (k + 1) / 2;
  auto at = [&](int64_t i, int64_t p) { return p < k ? a.data[i * a.row_stride + p * a.col_stride] : 0.0f; };
  constexpr int64_t kRows = 16;
  parallel_for((m + kRows - 1) / kRows, kRows * k, [&](int64_t begin, int64_t end) {
    for (int64_t i0 = begin * kRows; i0 < std::min(m, end * kRows); i0 += kRows) {
      const int64_t i1 = std::min(m, i0 + kRows);
      if (a.col_stride == 1) {
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t q = 0; q < pairs; ++q) out[i * ld + q] = bf16_pair(at(i, 2 * q), at(i, 2 * q + 1));
      } else {
        for (int64_t q = 0; q < pairs; ++q)
          for (int64_t i = i0; i < i1; ++i) out[i * ld + q] = bf16_pair(at(i, 2 * q), at(i, 2 * q + 1));
      }
    }
  });
}

// B as [panel][pairs][kBf16PanelColumns], zero columns past n, panels `panel_pairs` >=
// pairs rows apart.
void pack_bf16_b_scalar(StridedMatrix b, int64_t k, int64_t n, uint32_t* out, int64_t panel_pairs) {
  const int64_t pairs = (k + 1) / 2, panels = (n + kBf16PanelColumns - 1) / kBf16PanelColumns;
  auto at = [&](int64_t p, int64_t j) { return p < k && j < n ? b.data[p * b.row_stride + j * b.col_stride] : 0.0f; };
  parallel_for(panels, pairs * kBf16PanelColumns, [&](int64_t begin, int64_t end) {
    for (int64_t panel = begin; panel < end; ++panel) {
      uint32_t* dst = out + panel * panel_pairs * kBf16PanelColumns;
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

// The same packings, 16 pairs per instruction: vcvtne2ps2bf16 rounds 32 floats to
// bfloat16 (to nearest, ties to even, as float_to_bf16 does), so rounding costs about as
// much as copying. Masked loads read nothing past the operand and give the zero padding.
#define QKV_BF16_PACK_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

inline __mmask16 QKV_BF16_PACK_TARGET first_lanes(int64_t count) {
  return static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << std::max<int64_t>(count, 0)) - 1);
}

// 16 pairs of a contiguous run of `count` floats (count <= 32 used, zero past it).
inline __m512i QKV_BF16_PACK_TARGET pairs_of_run(const float* run, int64_t count) {
  const __m512 low = _mm512_maskz_loadu_ps(first_lanes(count), run);
  const __m512 high = _mm512_maskz_loadu_ps(first_lanes(count - 16), run + 16);
  return (__m512i)_mm512_cvtne2ps_pbh(high, low);  // the second operand fills the low half
}

// 16 pairs (even[j], odd[j]) of two rows of `count` floats (odd may be null: zeros).
inline __m512i QKV_BF16_PACK_TARGET pairs_of_rows(const float* even, const float* odd, int64_t count) {
  const __mmask16 mask = first_lanes(count);
  const __m512 e = _mm512_maskz_loadu_ps(mask, even);
  const __m512 o = odd ? _mm512_maskz_loadu_ps(mask, odd) : _mm512_setzero_ps();
  // Rounded as [e0..e15, o0..o15], then interleaved to e0 o0 e1 o1 ...
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7,
                                              22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(interleave, (__m512i)_mm512_cvtne2ps_pbh(o, e));
}

// A 16 x 16 block of 32-bit words transposed in registers: pairs within 128-bit lanes,
// then 64-bit halves, then the lanes themselves (the usual three rounds of shuffles).
inline void QKV_BF16_PACK_TARGET transpose_16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_i32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xdd);
  }
}

QKV_BF16_PACK_TARGET void pack_bf16_a_avx512(StridedMatrix a, int64_t m, int64_t k, uint32_t* out, int64_t ld) {
  const int64_t pairs = (k + 1) / 2;
  constexpr int64_t kRows = 16;
  // The loops below read the operand's sizes from locals: from the lambda's captures, the
  // compiler reloaded them after every store to `out`, which might have changed them.
  if (a.col_stride == 1) {  // each row of A is a run along the depth
    parallel_for((m + kRows - 1) / kRows, kRows * k, [&](int64_t begin, int64_t end) QKV_BF16_PACK_TARGET {
      const float* data = a.data;
      const int64_t row_stride = a.row_stride, depth = k, width = pairs, out_ld = ld;
      uint32_t* const dst = out;
      for (int64_t i = begin * kRows; i < std::min(m, end * kRows); ++i)
        for (int64_t q = 0; q < width; q += 16)
          _mm512_mask_storeu_epi32(dst + i * out_ld + q, first_lanes(width - q),
                                   pairs_of_run(data + i * row_stride + 2 * q, depth - 2 * q));
    });
    return;
  }
  // A stored transpose: two depths are two runs along A's rows, transposed 16 x 16. A
  // thread takes 16 depth pairs, 32 rows of the stored buffer, and walks them to the end
  // for every row of A: taking 16 rows of A through all the depth instead read one cache
  // line from each of thousands of rows, and the packing waited on memory.
  parallel_for((pairs + 15) / 16, 32 * m, [&](int64_t begin, int64_t end) QKV_BF16_PACK_TARGET {
    const float* data = a.data;
    const int64_t row_stride = a.row_stride, col_stride = a.col_stride, depth = k, width = pairs, rows_of_a = m,
                  out_ld = ld;
    uint32_t* const dst = out;
    for (int64_t q0 = begin * 16; q0 < std::min(width, end * 16); q0 += 16) {
      const __mmask16 store_mask = first_lanes(width - q0);
      for (int64_t i0 = 0; i0 < rows_of_a; i0 += kRows) {
        const int64_t rows = std::min(kRows, rows_of_a - i0);
        __m512i block[16];  // block[j]: depth pair q0 + j of the 16 rows
        for (int64_t j = 0; j < 16; ++j) {
          const int64_t q = q0 + j;
          const float* even = data + i0 * row_stride + 2 * q * col_stride;
          block[j] = q < width ? pairs_of_rows(even, 2 * q + 1 < depth ? even + col_stride : nullptr, rows)
                               : _mm512_setzero_si512();
        }
        transpose_16x16(block);  // block[r]: row i0 + r, pairs q0 to q0 + 15
        for (int64_t r = 0; r < rows; ++r) _mm512_mask_storeu_epi32(dst + (i0 + r) * out_ld + q0, store_mask, block[r]);
      }
    }
  });
}

QKV_BF16_PACK_TARGET void pack_bf16_b_avx512(StridedMatrix b, int64_t k, int64_t n, uint32_t* out,
                                             int64_t panel_pairs) {
  const int64_t pairs = (k + 1) / 2, panels = (n + kBf16PanelColumns - 1) / kBf16PanelColumns;
  parallel_for(panels, pairs * kBf16PanelColumns, [&](int64_t begin, int64_t end) QKV_BF16_PACK_TARGET {
    for (int64_t panel = begin; panel < end; ++panel) {
      uint32_t* dst = out + panel * panel_pairs * kBf16PanelColumns;
      const int64_t j0 = panel * kBf16PanelColumns;
      if (b.col_stride == 1) {  // two depths are two runs along B's rows
        for (int64_t q = 0; q < pairs; ++q) {
          const float* even = b.data + 2 * q * b.row_stride + j0;
          const float* odd = 2 * q + 1 < k ? even + b.row_stride : nullptr;
          for (int64_t j = 0; j < kBf16PanelColumns; j += 16)
            _mm512_storeu_si512(dst + q * kBf16PanelColumns + j,
                                pairs_of_rows(even + j, odd ? odd + j : nullptr, n - j0 - j));
        }
      } else {  // a stored transpose: each column of B is a run along the depth, transposed
        for (int64_t j = 0; j < kBf16PanelColumns; j += 16)
          for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
            __m512i block[16];  // block[c]: pairs q0 to q0 + 15 of column j + c
            for (int64_t c = 0; c < 16; ++c)
              block[c] = j0 + j + c < n ? pairs_of_run(b.data + (j0 + j + c) * b.col_stride + 2 * q0, k - 2 * q0)
                                        : _mm512_setzero_si512();
            transpose_16x16(block);  // block[r]: pair q0 + r of the 16 columns
            for (int64_t r = 0; r < std::min<int64_t>(16, pairs - q0); ++r)
              _mm512_storeu_si512(dst + (q0 + r) * kBf16PanelColumns + j, block[r]);
          }
      }
    }
  });
}

// One tile's job: `rows` rows of packed A (from the current depth pair, rows `lda` pairs
// apart) times up to four vectors of 16 packed columns of B over `pairs` depth pairs, each
// vector's run from b[v] on (kBf16PanelColumns words per pair), written to C (rows ldc
// apart, `cols` valid columns) as alpha acc, plus C's value when `add`, plus the bias.
constexpr int kBf16TileVectors = kBf16PanelColumns / 16;
struct Bf16Tile {
  const uint32_t* a;
  int64_t lda;
  const uint32_t* b[kBf16TileVectors];
  int64_t pairs;
  float alpha;
  float* c;
  int64_t ldc, cols;
  bool add;
  const float* bias;  // or null
  // The depth ends inside the last pair: its odd half of B is a row past the product's
  // (bf16_block_product reads B packed for more rows), which A's zero there would meet as
  // 0 * inf = NaN. That half is read as zero.
  bool odd_tail;
};

// One depth pair q of a tile: B's rows read through `keep` (all ones, or the even halves).
template <int Rows, int Vectors>
__attribute__((target("avx512f,avx512bf16"), always_inline)) inline void bf16_tile_pair(
    __m512 (&acc)[Rows][Vectors], const Bf16Tile& t, int64_t q, __m512i keep) {
  __m512bh row[Vectors];
  for (int v = 0; v < Vectors; ++v)
    row[v] = (__m512bh)_mm512_and_si512(_mm512_loadu_si512(t.b[v] + q * kBf16PanelColumns), keep);
  for (int r = 0; r < Rows; ++r) {
    const __m512bh pair = (__m512bh)_mm512_set1_epi32(static_cast<int>(t.a[r * t.lda + q]));
    for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], pair, row[v]);
  }
}

template <int Rows, int Vectors>
__attribute__((target("avx512f,avx512bf16"))) void bf16_tile_avx512(const Bf16Tile& t) {
  __m512 acc[Rows][Vectors];
  for (int r = 0; r < Rows; ++r)
    for (int v = 0; v < Vectors; ++v) acc[r][v] = _mm512_setzero_ps();
  const int64_t whole = t.odd_tail ? t.pairs - 1 : t.pairs;
  for (int64_t q = 0; q < whole; ++q) bf16_tile_pair<Rows, Vectors>(acc, t, q, _mm512_set1_epi32(-1));
  if (t.odd_tail) bf16_tile_pair<Rows, Vectors>(acc, t, whole, _mm512_set1_epi32(0xffff));
  const __m512 alpha = _mm512_set1_ps(t.alpha);
  for (int v = 0; v < Vectors; ++v) {
    const int64_t valid = std::clamp<int64_t>(t.cols - v * 16, 0, 16);
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    if (!mask) break;
    const __m512 bias = t.bias ? _mm512_maskz_loadu_ps(mask, t.bias + v * 16) : _mm512_setzero_ps();
    for (int r = 0; r < Rows; ++r) {
      float* out = t.c + r * t.ldc + v * 16;
      // alpha acc, rounded (kernels::scaled), then C, then the bias: the float32 kernels'
      // order, so that linear gives add(matmul(x, W), b) in bf16 too.
      __m512 x = acc[r][v];
      if (t.alpha != 1) {
        x = _mm512_mul_ps(alpha, x);
        asm("" : "+v"(x));
      }
      if (t.add) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mask, out));
      if (t.bias) x = _mm512_add_ps(x, bias);
      _mm512_mask_storeu_ps(out, mask, x);
    }
  }
}

void bf16_tile_portable(const Bf16Tile& t, int64_t rows) {
  float acc[kBf16TileRows][kBf16PanelColumns] = {};
  for (int64_t q = 0; q < t.pairs; ++q)
    for (int64_t r = 0; r < rows; ++r) {
      const uint32_t pair = t.a[r * t.lda + q];
      const float even = bf16_to_float(static_cast<uint16_t>(pair)), odd = bf16_to_float(static_cast<uint16_t>(pair >> 16));
      for (int64_t j = 0; j < t.cols; ++j) {
        const uint32_t b = t.b[j / 16][q * kBf16PanelColumns + j % 16] & (t.odd_tail && q == t.pairs - 1 ? 0xffffu : ~0u);
        acc[r][j] += even * bf16_to_float(static_cast<uint16_t>(b)) + odd * bf16_to_float(static_cast<uint16_t>(b >> 16));
      }
    }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < t.cols; ++j) {
      float& out = t.c[r * t.ldc + j];  // in the AVX-512 tile's order
      float x = acc[r][j];
      if (t.alpha != 1) {
        x *= t.alpha;
        asm("" : "+x"(x));
      }
      if (t.add) x += out;
      if (t.bias) x += t.bias[j];
      out = x;
    }
}

// The rows of one AVX-512 tile `vectors` wide: as many as keep 24 sums in registers (6 x 4,
// 12 x 2, 24 x 1), the independent chains the dot-product unit needs to stay busy. The
// portable kernel's buffer holds kBf16TileRows rows.
int64_t tile_rows(int64_t vectors, Bf16Kernel kernel) {
  return kernel == Bf16Kernel::portable ? kBf16TileRows : kBf16TileRows * kBf16TileVectors / std::max<int64_t>(1, vectors);
}

// A tile of `rows` <= Rows rows and Vectors vectors, as a tile of its exact size.
template <int Rows, int Vectors>
void bf16_tile_rows(const Bf16Tile& t, int64_t rows) {
  if constexpr (Rows > 0) {
    if (rows == Rows) bf16_tile_avx512<Rows, Vectors>(t);
    else bf16_tile_rows<Rows - 1, Vectors>(t, rows);
  }
}

template <int Vectors>
void bf16_tile_vectors(const Bf16Tile& t, int64_t rows, int64_t vectors) {
  if constexpr (Vectors > 0) {
    if (vectors == Vectors) bf16_tile_rows<kBf16TileRows * kBf16TileVectors / Vectors, Vectors>(t, rows);
    else bf16_tile_vectors<Vectors - 1>(t, rows, vectors);
  }
}

// The vectors of a tile `cols` wide: only those that hold a valid column are multiplied.
int64_t tile_vectors(int64_t cols) { return std::min<int64_t>(kBf16TileVectors, (cols + 15) / 16); }

// `rows` <= tile_rows(tile_vectors(t.cols), kernel) rows.
void run_tile(const Bf16Tile& t, int64_t rows, Bf16Kernel kernel) {
  if (kernel == Bf16Kernel::portable) return bf16_tile_portable(t, rows);
  bf16_tile_vectors<kBf16TileVectors>(t, rows, tile_vectors(t.cols));
}

// C [rows, cols] = alpha A B (+ C when `accumulate`, + bias [cols]) over packed operands,
// `pairs` deep (the last one half used when `odd_depth`): A's rows `lda` words apart, and
// column j of B (a multiple of 16) read from `column_run(q, j)` on, pair q on. Depth blocks,
// then panels of C's columns, then tiles of its rows: later depth blocks add to what the
// first wrote, and the last adds the bias. The loop of both bf16_gemm and bf16_block_product.
template <class ColumnRun>
void multiply_packed(const uint32_t* pa, int64_t lda, int64_t rows, const ColumnRun& column_run, int64_t cols,
                     int64_t pairs, bool odd_depth, float alpha, float* c, int64_t ldc, bool accumulate,
                     const float* bias, Bf16Kernel kernel) {
  static const int64_t depth_block = bf16_depth_block(cpu_caches());
  for (int64_t q0 = 0; q0 < pairs; q0 += depth_block)
    for (int64_t j = 0; j < cols; j += kBf16PanelColumns) {
      Bf16Tile t{nullptr, lda, {}, std::min(depth_block, pairs - q0), alpha, nullptr, ldc,
                 std::min(kBf16PanelColumns, cols - j), accumulate || q0 > 0,
                 q0 + depth_block >= pairs && bias ? bias + j : nullptr,
                 odd_depth && q0 + std::min(depth_block, pairs - q0) == pairs};
      const int64_t vectors = tile_vectors(t.cols), step = tile_rows(vectors, kernel);
      for (int64_t v = 0; v < vectors; ++v) t.b[v] = column_run(q0, j + 16 * v);
      for (int64_t i = 0; i < rows; i += step) {
        t.a = pa + i * lda + q0;
        t.c = c + i * ldc + j;
        run_tile(t, std::min(step, rows - i), kernel);
      }
    }
}

// The vector packings where the kernel has AVX512_BF16 (AMX's CPUs have it too) and the
// operand has a unit stride (every operand qkv's products hand here: StridedMatrix::row_major),
// else one float at a time; the same bits either way.
bool vector_packing(StridedMatrix x, Bf16Kernel kernel) {
  return kernel != Bf16Kernel::portable && (x.row_stride == 1 || x.col_stride == 1);
}
void pack_bf16_a(StridedMatrix a, int64_t m, int64_t k, uint32_t* out, int64_t ld, Bf16Kernel kernel) {
  if (vector_packing(a, kernel)) pack_bf16_a_avx512(a, m, k, out, ld);
  else pack_bf16_a_scalar(a, m, k, out, ld);
}
void pack_bf16_b(StridedMatrix b, int64_t k, int64_t n, uint32_t* out, int64_t panel_pairs, Bf16Kernel kernel) {
  if (vector_packing(b, kernel)) pack_bf16_b_avx512(b, k, n, out, panel_pairs);
  else pack_bf16_b_scalar(b, k, n, out, panel_pairs);
}

#ifdef QKV_AMX_POSSIBLE
// AMX: eight tile registers of 16 rows x 64 bytes, and TDPBF16PS, which multiplies a tile
// of A (16 rows x 16 pairs) by one of B (16 pairs x 16 columns, the same pair layout as
// vdpbf16ps's) into a 16 x 16 tile of float32 sums: 8192 multiply-adds per instruction.
// A block of C of 32 x 32 takes four tiles of sums, two of A and two of B.
constexpr int64_t kAmxBlock = 32, kAmxPairs = 16;

// Asks the kernel for the tile state (Linux gives it to a process only on request) once
// CPUID says the CPU has AMX's tiles and bf16 products.
bool amx_usable() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const bool tiles = edx & (1u << 24), bf16 = edx & (1u << 22);
  constexpr long kRequestPermission = 0x1023, kTileData = 18;  // ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA
  return tiles && bf16 && syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
}

struct AmxConfig {  // LDTILECFG's 64 bytes, palette 1
  uint8_t palette = 1, start_row = 0, reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

// C's 32 x 32 block = alpha sums (+ bias), `rows` x `cols` of it valid: a row of a tile
// of sums is one vector.
__attribute__((target("avx512f"))) void write_amx_sums(const float (&sums)[4][16 * 16], float alpha, float* c,
                                                       int64_t ldc, int64_t rows, int64_t cols, const float* bias) {
  const __m512 scale = _mm512_set1_ps(alpha);
  for (int half = 0; half < 2; ++half) {  // the two tiles side by side: columns 0-15, 16-31
    const int64_t valid = std::clamp<int64_t>(cols - 16 * half, 0, 16);
    if (!valid) break;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + 16 * half) : _mm512_setzero_ps();
    for (int64_t r = 0; r < rows; ++r) {
      const float* sum = sums[(r / 16) * 2 + half] + (r % 16) * 16;
      _mm512_mask_storeu_ps(c + r * ldc + 16 * half, mask, _mm512_fmadd_ps(scale, _mm512_load_ps(sum), b));
    }
  }
}

// The 32 x 32 block of C at (i, j) over all `pairs` (a multiple of 16): A's rows i to
// i + 31 (`lda` words apart, zero rows past m), B's panel columns from `b` (rows of the
// panel kBf16PanelColumns words apart). Written as alpha sums plus the bias, `rows` x
// `cols` of it valid.
__attribute__((target("amx-tile,amx-bf16"))) void amx_block(const uint32_t* a, int64_t lda, const uint32_t* b,
                                                            int64_t pairs, float alpha, float* c, int64_t ldc,
                                                            int64_t rows, int64_t cols, const float* bias) {
  const int64_t a_stride = lda * 4, b_stride = kBf16PanelColumns * 4;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t q = 0; q < pairs; q += kAmxPairs) {
    _tile_loadd(4, a + q, a_stride);
    _tile_loadd(5, a + 16 * lda + q, a_stride);
    _tile_loadd(6, b + q * kBf16PanelColumns, b_stride);
    _tile_loadd(7, b + q * kBf16PanelColumns + 16, b_stride);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float sums[4][16 * 16];
  _tile_stored(0, sums[0], 64);
  _tile_stored(1, sums[1], 64);
  _tile_stored(2, sums[2], 64);
  _tile_stored(3, sums[3], 64);
  write_amx_sums(sums, alpha, c, ldc, rows, cols, bias);
}

__attribute__((target("amx-tile,amx-bf16"))) void amx_configure() {
  AmxConfig config;
  for (int t = 0; t < 8; ++t) {
    config.bytes_per_row[t] = 64;
    config.rows[t] = 16;
  }
  // GCC 12 takes LDTILECFG for a read of the configuration's first bytes only and, where it
  // does not inline this function (the QKV_PORTABLE build), dropped the stores of the tile
  // shapes as dead: the instruction then read stack garbage and faulted. The empty asm
  // tells it the whole configuration is read.
  asm volatile("" : : "m"(config) : "memory");
  _tile_loadconfig(&config);
}

__attribute__((target("amx-tile"))) void amx_release() { _tile_release(); }

// C = alpha A B (+ bias) from A packed with rows `lda` words apart and zero rows up to a
// multiple of 32, B's panels `panel_pairs` rows long; both pair counts a multiple of 16.
// Each block of C sums its whole depth in the tiles, in one order whatever the split.
void amx_gemm(int64_t m, int64_t n, int64_t k, float alpha, const uint32_t* pa, int64_t lda, const uint32_t* pb,
              int64_t panel_pairs, float* c, const float* bias) {
  const int64_t l2 = cpu_caches().l2;
  split_over_threads(m, n, k, kAmxBlock, kAmxBlock, [&](int64_t i0, int64_t rows, int64_t j0, int64_t columns) {
    // One operand stays in the L2 while the other streams past it. If this thread's part
    // of packed B fits in half the L2, each 32 rows of A (then in the L1) take every
    // column of C in turn; else a block of A's rows that fills half the L2 does, so that
    // B's column slices pass over it. (The first order ran [2048 x 256] x [256 x 1024]
    // 1.5x faster; with B of 8 MiB it was 16% slower.)
    const bool b_stays = columns * panel_pairs * 4 <= l2 / 2;
    const int64_t rows_block =
        b_stays ? kAmxBlock : std::max<int64_t>(kAmxBlock, l2 / 2 / (lda * 4) / kAmxBlock * kAmxBlock);
    amx_configure();
    for (int64_t ib = i0; ib < i0 + rows; ib += rows_block)
      for (int64_t j = j0; j < j0 + columns; j += kAmxBlock) {
        const uint32_t* panel = pb + (j / kBf16PanelColumns) * panel_pairs * kBf16PanelColumns + j % kBf16PanelColumns;
        for (int64_t i = ib; i < std::min(i0 + rows, ib + rows_block); i += kAmxBlock)
          amx_block(pa + i * lda, lda, panel, panel_pairs, alpha, c + i * n + j, n,
                    std::min(kAmxBlock, i0 + rows - i), std::min(kAmxBlock, j0 + columns - j), bias ? bias + j : nullptr);
      }
    amx_release();
  });
}
#endif

}  // namespace

Bf16Kernel best_bf16_kernel() {
  static const Bf16Kernel best = [] {
#ifdef QKV_AMX_POSSIBLE
    if (amx_usable()) return Bf16Kernel::amx;
#endif
    return block_bf16_kernel();
  }();
  return best;
}

const char* bf16_kernel_name(Bf16Kernel kernel) {
  switch (kernel) {
    case Bf16Kernel::amx: return "amx";
    case Bf16Kernel::avx512_bf16: return "avx512_bf16";
    default: return "portable";
  }
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
  // AMX's tiles take 16 pairs and 32 rows of A at a time: the packings are padded with
  // zeros to whole tiles.
  const bool amx = kernel == Bf16Kernel::amx;
  const int64_t ld = amx ? (pairs + 15) / 16 * 16 : pairs;
  const int64_t padded_m = amx ? (m + 31) / 32 * 32 : m;
  // Kept between products, per calling thread (a training step repeats its shapes; the
  // products of a batched matmul each pack on their own thread).
  thread_local AlignedBuffer<uint32_t> packed_a, packed_b;
  packed_a.reserve(padded_m * ld);
  packed_b.reserve(panels * ld * kBf16PanelColumns);
  if (amx) {
    for (int64_t i = 0; i < padded_m; ++i)
      std::fill(packed_a.data() + i * ld + (i < m ? pairs : 0), packed_a.data() + (i + 1) * ld, 0u);
    for (int64_t panel = 0; panel < panels; ++panel)
      std::fill_n(packed_b.data() + (panel * ld + pairs) * kBf16PanelColumns, (ld - pairs) * kBf16PanelColumns, 0u);
  }
  pack_bf16_a(a, m, k, packed_a.data(), ld, kernel);
  pack_bf16_b(b, k, n, packed_b.data(), ld, kernel);
#ifdef QKV_AMX_POSSIBLE
  if (amx) return amx_gemm(m, n, k, alpha, packed_a.data(), ld, packed_b.data(), ld, c, bias);
#endif
  const uint32_t* pa = packed_a.data();
  const uint32_t* pb = packed_b.data();
  // Column blocks are whole panels, so every split sums each element of C in the same order.
  split_over_threads(m, n, k, kBf16TileRows, kBf16PanelColumns, [&](int64_t i0, int64_t rows, int64_t j0, int64_t columns) {
    const auto column_run = [&](int64_t q, int64_t j) {
      return pb + ((j0 + j) / kBf16PanelColumns * pairs + q) * kBf16PanelColumns + (j0 + j) % kBf16PanelColumns;
    };
    multiply_packed(pa + i0 * pairs, pairs, rows, column_run, columns, pairs, k % 2 == 1, alpha, c + i0 * n + j0, n, false,
                    bias ? bias + j0 : nullptr, kernel);
  });
}

void Bf16PackedB::pack(StridedMatrix b, int64_t k, int64_t n, Bf16Kernel kernel) {
  pairs_ = (k + 1) / 2;
  const int64_t panels = (n + kBf16PanelColumns - 1) / kBf16PanelColumns;
  pack_bf16_b(b, k, n, words_.reserve(std::max<int64_t>(1, panels * pairs_ * kBf16PanelColumns)), pairs_, kernel);
}

void bf16_block_product(int64_t m, int64_t n, int64_t k, float alpha, StridedMatrix a, const Bf16PackedB& b,
                        int64_t p0, int64_t j0, float* c, int64_t ldc, bool accumulate, Bf16Kernel kernel) {
  if (p0 % 2 != 0)
    throw std::invalid_argument("bf16_block_product: the depth must start at an even row of B, got " +
                                std::to_string(p0));
  if (m == 0 || n == 0) return;
  if (k == 0) {  // an empty sum
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, 0.0f);
    return;
  }
  const int64_t pairs = (k + 1) / 2;
  thread_local AlignedBuffer<uint32_t> packed_a;
  uint32_t* pa = packed_a.reserve(m * pairs);
  pack_bf16_a(a, m, k, pa, pairs, kernel);
  // Columns [from, to) of C: B's column j0 + from a multiple of 16, or all within one vector.
  auto columns = [&](int64_t from, int64_t to, Bf16Kernel tile_kernel) {
    const auto column_run = [&](int64_t q, int64_t j) { return b.column_run(p0 / 2 + q, j0 + from + j); };
    multiply_packed(pa, pairs, m, column_run, to - from, pairs, k % 2 == 1, alpha, c + from, ldc, accumulate, nullptr, tile_kernel);
  };
  // A vector of 16 columns is one load of a panel's row from a multiple of 16 on (where
  // the fused kernel's blocks start; a build with narrower vectors may start elsewhere):
  // the columns before the first such one go one at a time.
  const int64_t head = std::min(n, (16 - j0 % 16) % 16);
  if (head > 0) columns(0, head, Bf16Kernel::portable);
  columns(head, n, kernel);
}

Bf16Kernel block_bf16_kernel() {
  static const Bf16Kernel kernel = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw")
                                       ? Bf16Kernel::avx512_bf16
                                       : Bf16Kernel::portable;
  return kernel;
}

}  // namespace qkv::kernels

#endif  // QKV_DOUBLE
