// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, initial value and final XOR
// 0xFFFFFFFF), the checksum of each tensor's bytes in a checkpoint. Table-driven, one byte
// at a time: a checkpoint of 100 MB checks in a fraction of a second, well under the
// time to read it.
#pragma once

#include <cstdint>
#include <string_view>

namespace qkv {

// CRC-32C("123456789") == 0xE3069283, the check value of the specification.
uint32_t crc32c(std::string_view bytes);

}  // namespace qkv
