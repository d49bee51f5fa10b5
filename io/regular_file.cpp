#include "io/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qkv {
namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw FileReadError("cannot read '" + path + "': " + why);
}

void check_regular(const std::string& path, const struct stat& info, uint64_t max_bytes) {
  if (!S_ISREG(info.st_mode)) refuse(path, "it is " + kind_of(info.st_mode) + ", not a regular file");
  if (static_cast<uint64_t>(info.st_size) > max_bytes)
    refuse(path, "it is " + std::to_string(info.st_size) + " bytes, over the limit of " + std::to_string(max_bytes));
}

}  // namespace

std::string read_regular_file(const std::string& path, uint64_t max_bytes) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) refuse(path, std::strerror(errno));
  check_regular(path, info, max_bytes);
  // O_NONBLOCK: should the path have become a FIFO since the stat, open returns at once
  // instead of waiting for a writer; the fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) refuse(path, std::strerror(errno));
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    refuse(path, std::strerror(error));
  }
  try {
    check_regular(path, info, max_bytes);
  } catch (...) {
    ::close(fd);
    throw;
  }
  std::string out(static_cast<size_t>(info.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      refuse(path, std::strerror(error));
    }
    if (n == 0) break;  // the file shrank while we read it
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

}  // namespace qkv
