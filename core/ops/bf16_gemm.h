// The matrix product of bf16 mode (core/precision.h): C = alpha A B with A and B rounded
// to bfloat16 and every sum kept in float32. Float build only. Internal.
//
// Both operands are packed once per product as pairs of bfloat16 along the depth, the
// operand layout of AVX512_BF16's dot-product instruction (vdpbf16ps: per float lane,
// acc += a0 b0 + a1 b1): A row by row ([m][k/2] pairs), B in panels of kBf16PanelColumns
// columns ([panel][k/2][64] pairs). A register tile of C (kBf16TileRows rows, one panel
// wide) then takes a broadcast pair of A and the panel's pair row per step. The product
// of two bfloat16 values is exact in float32, so the only error beyond the rounding of
// the operands is float32's accumulation error. The fused attention multiplies its blocks
// the same way (bf16_block_product), its K and V packed once per head.
//
// With AVX512_BF16 the packing itself rounds 32 floats per instruction (vcvtne2ps2bf16),
// so rounding costs about as much as copying; without it, one float at a time. Either way a
// subnormal operand becomes a zero of its sign, as that instruction makes it; vdpbf16ps
// also flushes a subnormal sum to zero, which the portable kernel's float32 sums do not
// (results below 2^-126 only).
#pragma once

#ifndef QKV_DOUBLE

#include <cstdint>

#include "core/cpu_caches.h"
#include "core/ops/aligned_buffer.h"
#include "core/ops/direct_gemm.h"

namespace qkv::kernels {

inline constexpr int64_t kBf16TileRows = 6;
inline constexpr int64_t kBf16PanelColumns = 64;

enum class Bf16Kernel {
  amx,          // AMX tiles (TDPBF16PS), where the CPU has them and Linux grants the tile state
  avx512_bf16,  // vdpbf16ps (_mm512_dpbf16_ps); compiled for it whatever the build flags
  portable,     // each pair widened to float32 and multiplied in float32: any CPU, same packing
};

// amx, else avx512_bf16, when this CPU has the instructions (asked at run time), else
// portable.
Bf16Kernel best_bf16_kernel();
const char* bf16_kernel_name(Bf16Kernel kernel);

// Depth pairs per block: a tile's pairs of A fill at most half the L1, the panel's pairs
// of B at most half the L2, so both stay in cache across the tiles that reuse them.
int64_t bf16_depth_block(const CpuCaches& caches);

// C [m, n] = alpha A B, plus `bias` [n] on every row when given: A [m, k] and B [k, n]
// with any strides, C row-major with rows n apart. Split over the threads.
void bf16_gemm(int64_t m, int64_t n, int64_t k, float alpha, StridedMatrix a, StridedMatrix b, float* c,
               const float* bias, Bf16Kernel kernel = best_bf16_kernel());

// B rounded and packed once for many bf16_block_product calls, in bf16_gemm's layout
// ([panel][pairs][kBf16PanelColumns] pairs). The fused attention packs K and V so once per
// key/value head and reuses them for every block of queries.
class Bf16PackedB {
 public:
  // B [k, n] with any strides, one of them 1 for the vector packing.
  void pack(StridedMatrix b, int64_t k, int64_t n, Bf16Kernel kernel);
  // The run of column j's pairs from pair q on, kBf16PanelColumns words per pair; from a
  // column that is a multiple of 16, 16 columns read as one vector.
  const uint32_t* column_run(int64_t q, int64_t j) const {
    return words_.data() + ((j / kBf16PanelColumns) * pairs_ + q) * kBf16PanelColumns + j % kBf16PanelColumns;
  }

 private:
  AlignedBuffer<uint32_t> words_;
  int64_t pairs_ = 0;
};

// C [m, n] = alpha A B[p0 : p0 + k, j0 : j0 + n], or C += that when `accumulate`, on the
// calling thread: A [m, k] (any strides, one of them 1) rounded here, B packed before, p0
// even, C's rows ldc apart. The products of the fused attention's blocks in bf16.
void bf16_block_product(int64_t m, int64_t n, int64_t k, float alpha, StridedMatrix a, const Bf16PackedB& b,
                        int64_t p0, int64_t j0, float* c, int64_t ldc, bool accumulate, Bf16Kernel kernel);

// The kernel bf16_block_product runs: avx512_bf16 where the CPU has it (AMX's 32-row
// tiles do not fit a block of 60 queries), else portable.
Bf16Kernel block_bf16_kernel();

}  // namespace qkv::kernels

#endif  // QKV_DOUBLE
