// Tensor: a dense, row-major, contiguous array of Scalar with any rank, plus the
// autograd state (does it need a gradient, which record produced it, its .grad).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace qkv {

// The library is built twice from the same sources: float for training, and double
// (QKV_DOUBLE) so that gradient tests compare against finite differences they can trust.
#ifdef QKV_DOUBLE
using Scalar = double;
#else
using Scalar = float;
#endif

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& shape);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& shape);

class Generator;
struct Node;

// Autograd state shared by a tensor and its views. Records keep a pointer to this, not to
// the data, so an input whose value the backward does not need is not kept alive.
struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  std::shared_ptr<Node> grad_fn;       // record that produced the tensor; null for leaves
  std::shared_ptr<struct TensorImpl> grad;  // accumulated gradient (leaves, retain_grad)
};

struct TensorImpl {
  std::shared_ptr<Scalar[]> storage;  // shared between a tensor and its views
  int64_t offset = 0;
  Shape shape;
  int64_t numel = 0;
  std::shared_ptr<AutogradMeta> meta;
};

class Tensor {
 public:
  Tensor() = default;  // undefined tensor: "no gradient" in backward results
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Creation. Every random draw takes an explicit generator: same seed, same numbers.
  static Tensor empty(const Shape& shape);  // uninitialised, for kernels' outputs
  static Tensor zeros(const Shape& shape);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, Scalar value);
  static Tensor scalar(Scalar value);  // rank 0
  static Tensor from(std::vector<Scalar> values, const Shape& shape);
  static Tensor from(std::initializer_list<Scalar> values);  // rank 1
  static Tensor from_buffer(const Scalar* data, const Shape& shape);  // copies
  static Tensor arange(int64_t n);
  static Tensor randn(const Shape& shape, Generator& gen, Scalar mean = 0, Scalar stddev = 1);
  static Tensor rand(const Shape& shape, Generator& gen, Scalar low = 0, Scalar high = 1);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const;

  // Inline: a user's score_mod reads its parameters once per score.
  Scalar* data() { return impl_ ? impl_->storage.get() + impl_->offset : undefined_data(); }
  const Scalar* data() const { return impl_ ? impl_->storage.get() + impl_->offset : undefined_data(); }
  Scalar item() const;  // the value of a one-element tensor
  Scalar at(const std::vector<int64_t>& index) const;  // bounds-checked
  void set(const std::vector<int64_t>& index, Scalar value);
  std::vector<Scalar> to_vector() const;
  Tensor clone() const;  // a copy of the data with no autograd history
  bool same_storage(const Tensor& other) const;

  // Autograd.
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on leaves
  bool is_leaf() const;
  Tensor grad() const;  // undefined until a backward reached this tensor
  void zero_grad();     // drops the accumulated gradient
  void retain_grad();   // keep .grad on a non-leaf too (for inspecting dL/dscores)
  void backward() const;  // from a one-element tensor, seed 1
  void backward(const Tensor& seed) const;  // seed has this tensor's shape
  Tensor detach() const;  // same data, no history
  std::shared_ptr<AutogradMeta> autograd_meta() const;  // created on demand

  // Operators forward to the ops of ops.h.
  Tensor operator-() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
  void require_defined(const char* what) const;
  [[noreturn]] Scalar* undefined_data() const;
};

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, Scalar b);
Tensor operator-(const Tensor& a, Scalar b);
Tensor operator*(const Tensor& a, Scalar b);
Tensor operator/(const Tensor& a, Scalar b);
Tensor operator+(Scalar a, const Tensor& b);
Tensor operator-(Scalar a, const Tensor& b);
Tensor operator*(Scalar a, const Tensor& b);
Tensor operator/(Scalar a, const Tensor& b);

// Prints shape and values (long tensors are elided in the middle).
std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace qkv
