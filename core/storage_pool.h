// Where tensor data lives. Freed buffers go back to a pool, binned by size, instead of to
// the system: a training step allocates the same shapes as the step before it, so from the
// second step on it reuses warm memory and touches no new pages (glibc returns large
// blocks to the kernel on every free, and each fresh page costs a fault and a zeroing).
// Every buffer is 64-byte aligned: AVX-512 loads and, more importantly, the same alignment
// every run, so Eigen's vectorised reductions split a sum the same way each time and a
// rerun gives the same bits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace qkv {

// A buffer of n Scalars (n >= 0), uninitialised; back to the pool when the last owner lets go.
std::shared_ptr<Scalar[]> allocate_storage(int64_t n);

struct StoragePoolStats {
  int64_t cached_bytes = 0;   // held by the pool, free for reuse
  int64_t in_use_bytes = 0;   // held by tensors
  int64_t hits = 0, misses = 0;  // allocations served from the pool / from the system
};
StoragePoolStats storage_pool_stats();

// The most the pool keeps cached (default 4 GiB, or QKV_POOL_LIMIT_MB); a buffer freed
// beyond it goes back to the system. 0 turns caching off.
void set_storage_pool_limit(int64_t bytes);
// Returns every cached buffer to the system (after training, before a different workload).
void release_cached_storage();

}  // namespace qkv
