// Reading a file given from outside (a config, a checkpoint, a run's logs) without ever
// blocking: a FIFO, a terminal or another device opened for reading waits for a writer
// that may never come, and a folder reads as nothing. Only regular files are opened,
// checked with stat before the open and again on the open descriptor.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace qkv {

// A file that could not be read: not there, not a regular file, over a size limit, or a
// failed read. what() names the path and the reason.
class FileReadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The bytes of the regular file `path`, at most max_bytes of them (a larger file is
// refused with the limit in the message).
std::string read_regular_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

}  // namespace qkv
