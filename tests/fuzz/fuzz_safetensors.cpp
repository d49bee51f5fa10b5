// libFuzzer target: the safetensors reader on arbitrary bytes. Every input must end in
// decoded tensors or a CheckpointError; anything else (another exception, a sanitizer
// report, a crash) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    qkv::decode_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input");
  } catch (const qkv::CheckpointError&) {
  }
  return 0;
}
