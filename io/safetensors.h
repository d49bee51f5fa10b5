// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON header
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian data; offsets count from the start of the data section.
//
// qkv writes F32 from the float build and F64 from the double build, and reads either,
// converting to Scalar (F32 -> F64 is exact; F64 -> F32 rounds). Reading validates every
// byte before it returns: any problem is one CheckpointError naming the file, the tensor
// and the problem, whatever the file holds.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace qkv {

// A checkpoint or safetensors file that cannot be written, read, or trusted.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using StringMap = std::map<std::string, std::string>;

struct SafetensorsContents {
  NamedTensors tensors;  // in the order of their data in the file
  StringMap metadata;    // without the checksums
  bool checksummed = false;  // the file carried checksums, and every tensor matched its own
};

constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;  // bytes; larger headers are refused

// Checksums: qkv writes the CRC-32C (io/crc32c.h) of each tensor's data bytes into
// __metadata__ as "crc32c:<tensor name>": 8 lowercase hex digits, so the file stays
// plain safetensors for any other reader. Decoding verifies them all and refuses a file
// whose data does not match, naming the tensor; a file without any (another writer's,
// or qkv's before it wrote them) decodes with checksummed false.

// The file's bytes: header (padded with spaces to a multiple of 8 bytes) then data, in the
// order given. Names must be unique, non-empty and not "__metadata__"; metadata keys may
// not start with "crc32c:".
std::string encode_safetensors(const NamedTensors& tensors, const StringMap& metadata = {});
// Parses and validates `bytes`; `source` names the file in error messages.
SafetensorsContents decode_safetensors(std::string_view bytes, const std::string& source);

// Atomic: written to a temporary file in the same directory, flushed to disk, renamed.
void save_safetensors(const std::string& path, const NamedTensors& tensors, const StringMap& metadata = {});
SafetensorsContents load_safetensors(const std::string& path);

// The file primitives behind them, for other formats: CheckpointError naming the path.
// read_file opens regular files only (io/regular_file.h): a FIFO is refused, not waited on.
void write_file_atomically(const std::string& path, std::string_view bytes);
std::string read_file(const std::string& path);
// Whether a file name is one of write_file_atomically's temporary files
// (".<name>.tmp-<pid>-<n>"); one that outlived its process is a partial copy.
bool is_atomic_write_temp(const std::string& name);

}  // namespace qkv
