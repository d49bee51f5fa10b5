// The register tile shared by qkv's two matrix-product kernels (direct_gemm and
// packed_gemm): a block of C held in vector registers while a depth of A and B streams
// through it. Internal.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace qkv::kernels {

// The widest vector the target has. GCC's and Clang's vector types compile to the
// target's vector instructions (and fused multiply-adds where it has them); a scalar times
// a vector broadcasts the scalar.
#if defined(__AVX512F__)
inline constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
inline constexpr int kVectorBytes = 32;
#else
inline constexpr int kVectorBytes = 16;
#endif
using Vec = Scalar __attribute__((vector_size(kVectorBytes)));
inline constexpr int64_t kLanes = kVectorBytes / sizeof(Scalar);

// The tile of C held in registers: kTileRows x kTileVectors accumulators, plus one vector
// per column of the tile for B's row and one broadcast of A. AVX-512 has 32 vector
// registers (6 x 4 + 4 + 1 = 29 used); AVX2 and SSE have 16 (4 x 2 + 2 + 1 = 11).
inline constexpr int kTileRows = kVectorBytes == 64 ? 6 : 4;
inline constexpr int kTileVectors = kVectorBytes == 64 ? 4 : 2;
inline constexpr int64_t kTileColumns = kTileVectors * kLanes;

// Unaligned loads and stores: rows of C and B start anywhere.
inline Vec load_vector(const Scalar* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_vector(Scalar* p, const Vec& v) { std::memcpy(p, &v, sizeof v); }

}  // namespace qkv::kernels
