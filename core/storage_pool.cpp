#include "core/storage_pool.h"

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace qkv {
namespace {
constexpr size_t kAlignment = 64;

// Exact-size bins: a step's shapes repeat exactly, so a bin hit needs no best-fit search.
class StoragePool {
 public:
  StoragePool() {
    if (const char* mb = std::getenv("QKV_POOL_LIMIT_MB")) limit_ = std::strtoll(mb, nullptr, 10) << 20;
  }

  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.in_use_bytes += static_cast<int64_t>(bytes);
      auto bin = bins_.find(bytes);
      if (bin != bins_.end() && !bin->second.empty()) {
        void* p = bin->second.back();
        bin->second.pop_back();
        stats_.cached_bytes -= static_cast<int64_t>(bytes);
        ++stats_.hits;
        return p;
      }
      ++stats_.misses;
    }
    void* p = std::aligned_alloc(kAlignment, bytes);
    if (!p) {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.in_use_bytes -= static_cast<int64_t>(bytes);
      throw std::bad_alloc();
    }
    return p;
  }

  void give_back(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.in_use_bytes -= static_cast<int64_t>(bytes);
      if (stats_.cached_bytes + static_cast<int64_t>(bytes) <= limit_) {
        bins_[bytes].push_back(p);
        stats_.cached_bytes += static_cast<int64_t>(bytes);
        return;
      }
    }
    std::free(p);
  }

  void set_limit(int64_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    limit_ = bytes;
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [bytes, blocks] : bins_)
      for (void* p : blocks) std::free(p);
    bins_.clear();
    stats_.cached_bytes = 0;
  }

  StoragePoolStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> bins_;
  StoragePoolStats stats_;
  int64_t limit_ = int64_t(4) << 30;
};

// Never destroyed: tensors that outlive main() (statics) still return their buffers here.
StoragePool& pool() {
  static StoragePool* instance = new StoragePool;
  return *instance;
}
}  // namespace

std::shared_ptr<Scalar[]> allocate_storage(int64_t n) {
  const size_t wanted = sizeof(Scalar) * static_cast<size_t>(std::max<int64_t>(n, 1));
  const size_t bytes = (wanted + kAlignment - 1) / kAlignment * kAlignment;
  auto* data = static_cast<Scalar*>(pool().take(bytes));
  return std::shared_ptr<Scalar[]>(data, [bytes](Scalar* p) { pool().give_back(p, bytes); });
}

StoragePoolStats storage_pool_stats() { return pool().stats(); }
void set_storage_pool_limit(int64_t bytes) { pool().set_limit(bytes); }
void release_cached_storage() { pool().release(); }

}  // namespace qkv
