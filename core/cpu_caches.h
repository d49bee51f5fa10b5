// The data caches of the CPU this process runs on, read once at run time: the sizes from
// which the matrix product chooses its kernel and its block sizes (core/ops/gemm_plan.h),
// so that nothing there rests on a cache size measured on one machine.
#pragma once

#include <cstdint>
#include <string>

namespace qkv {

struct CpuCaches {
  int64_t l1d = 0;  // bytes of level-1 data cache of one core
  int64_t l2 = 0;   // bytes of level-2 cache of one core
  int64_t l3 = 0;   // bytes of level-3 cache (shared by the cores of a die), 0 if none
  int64_t line = 64;  // bytes of a cache line
  // Where the sizes came from: "sysconf", "sysfs", or "assumed" when neither reported one.
  std::string source;
  int64_t l1d_ways = 0;  // the level-1 data cache's associativity, 0 if not reported
};

// Read once (sysconf's cache entries, then /sys/devices/system/cpu/cpu0/cache), then kept.
const CpuCaches& cpu_caches();

// Parses a size as sysfs writes it: "48K", "1024K", "32M", or plain bytes. 0 when unreadable.
int64_t parse_cache_size(const std::string& text);

}  // namespace qkv
