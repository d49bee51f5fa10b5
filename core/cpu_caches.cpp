#include "core/cpu_caches.h"

#include <unistd.h>

#include <fstream>
#include <string>

namespace qkv {
namespace {

int64_t from_sysconf([[maybe_unused]] int name) {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const long bytes = sysconf(name);
  return bytes > 0 ? bytes : 0;
#else
  return 0;
#endif
}

int64_t line_or_default(int64_t bytes) { return bytes > 0 ? bytes : 64; }

std::string read_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// /sys/devices/system/cpu/cpu0/cache/indexN/{level,type,size}: the data and unified caches.
CpuCaches from_sysfs() {
  CpuCaches caches;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    const std::string level = read_line(dir + "level"), type = read_line(dir + "type");
    if (level.empty() || type == "Instruction") continue;
    const int64_t bytes = parse_cache_size(read_line(dir + "size"));
    if (level == "1") {
      caches.l1d = bytes;
      caches.line = line_or_default(parse_cache_size(read_line(dir + "coherency_line_size")));
      caches.l1d_ways = parse_cache_size(read_line(dir + "ways_of_associativity"));
    }
    else if (level == "2") caches.l2 = bytes;
    else if (level == "3") caches.l3 = bytes;
  }
  return caches;
}

CpuCaches probe() {
  CpuCaches caches;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  caches = {from_sysconf(_SC_LEVEL1_DCACHE_SIZE), from_sysconf(_SC_LEVEL2_CACHE_SIZE),
            from_sysconf(_SC_LEVEL3_CACHE_SIZE), line_or_default(from_sysconf(_SC_LEVEL1_DCACHE_LINESIZE)),
            "sysconf", from_sysconf(_SC_LEVEL1_DCACHE_ASSOC)};
#endif
  if (caches.l1d == 0 || caches.l2 == 0) {
    caches = from_sysfs();
    caches.source = "sysfs";
  }
  // Neither told us (a container hiding sysfs, a libc without the entries): the smallest
  // sizes of x86-64 and ARM cores of the last decade, so that blocks err on the small side.
  if (caches.l1d == 0 || caches.l2 == 0) caches = {32 << 10, 256 << 10, 0, 64, "assumed"};
  return caches;
}

}  // namespace

int64_t parse_cache_size(const std::string& text) {
  std::size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    return 0;
  }
  if (value <= 0) return 0;
  const std::string unit = text.substr(used);
  if (unit.empty()) return value;
  if (unit == "K") return value << 10;
  if (unit == "M") return value << 20;
  if (unit == "G") return value << 30;
  return 0;
}

const CpuCaches& cpu_caches() {
  static const CpuCaches caches = probe();
  return caches;
}

}  // namespace qkv
