// A scratch buffer that only grows, 64-byte aligned: kept between calls (a training step
// repeats its shapes) so that it allocates once, and aligned so that each row of a block
// whose width is a multiple of 16 floats starts a cache line. A vector load that straddles
// two lines costs two of the L1's loads: the register tile ran 5-14% slower on a buffer
// std::vector had placed 16 bytes off a line. Internal.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

namespace qkv::kernels {

template <class T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& other) noexcept : data_(other.data_), capacity_(other.capacity_) {
    other.data_ = nullptr;
    other.capacity_ = 0;
  }
  ~AlignedBuffer() { std::free(data_); }

  // Room for at least `count` elements; the contents are kept only while it does not grow.
  T* reserve(int64_t count) {
    if (count > capacity_) {
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(T) + 63) / 64 * 64;
      data_ = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!data_) throw std::bad_alloc();
      capacity_ = count;
    }
    return data_;
  }
  T* data() const { return data_; }

 private:
  T* data_ = nullptr;
  int64_t capacity_ = 0;
};

}  // namespace qkv::kernels
