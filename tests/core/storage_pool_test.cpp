// The storage pool: freed buffers are reused by size, every buffer is 64-byte aligned, the
// limit bounds what is cached, and release_cached_storage() empties it.
#include <catch2/catch.hpp>
#include <cstdint>

#include "qkv.h"

using namespace qkv;

TEST_CASE("storage pool: a freed buffer serves the next tensor of the same size", "[storage]") {
  set_storage_pool_limit(int64_t(1) << 30);
  const Scalar* first;
  {
    Tensor a = Tensor::empty({1001, 7});
    first = a.data();
  }
  const StoragePoolStats before = storage_pool_stats();
  Tensor b = Tensor::empty({7, 1001});  // same number of elements
  CHECK(b.data() == first);
  CHECK(storage_pool_stats().hits == before.hits + 1);
  CHECK(storage_pool_stats().cached_bytes < before.cached_bytes);
}

TEST_CASE("storage pool: buffers are 64-byte aligned, whatever their size", "[storage]") {
  for (int64_t n : {1, 3, 17, 1000, 123457}) {
    Tensor t = Tensor::zeros({n});
    CHECK(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  }
}

TEST_CASE("storage pool: the limit bounds the cache, release empties it", "[storage]") {
  set_storage_pool_limit(0);
  release_cached_storage();
  { Tensor t = Tensor::empty({4096}); }
  CHECK(storage_pool_stats().cached_bytes == 0);

  set_storage_pool_limit(int64_t(1) << 30);
  const int64_t in_use = storage_pool_stats().in_use_bytes;
  {
    Tensor t = Tensor::empty({4096});
    CHECK(storage_pool_stats().in_use_bytes == in_use + 4096 * int64_t(sizeof(Scalar)));
  }
  CHECK(storage_pool_stats().in_use_bytes == in_use);
  CHECK(storage_pool_stats().cached_bytes >= 4096 * int64_t(sizeof(Scalar)));
  release_cached_storage();
  CHECK(storage_pool_stats().cached_bytes == 0);
}
