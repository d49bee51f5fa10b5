// bfloat16: the upper half of a float32 (sign, the same 8-bit exponent, 7 mantissa bits),
// so it spans float32's range at about 3 significant digits. Internal.
#pragma once

#include <cstdint>
#include <cstring>

namespace qkv::kernels {

// x rounded to the nearest bfloat16, ties to the even one (what PyTorch's and the
// AVX512_BF16 conversions do). Overflow rounds to infinity; a NaN stays a (quiet) NaN of
// the same sign, since rounding its payload could carry into the exponent and make it inf.
inline uint16_t float_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

// x as the bf16 products read it: float_to_bf16, except that a subnormal becomes a zero of
// its sign, as AVX512_BF16's conversion and dot product treat subnormal inputs. The portable
// packing then gives the vector packing's bits.
inline uint16_t operand_to_bf16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7f800000u) == 0) return static_cast<uint16_t>((bits >> 16) & 0x8000u);
  return float_to_bf16(x);
}

// Exact: a bfloat16 is a float32 with 16 zero bits below it.
inline float bf16_to_float(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

}  // namespace qkv::kernels
