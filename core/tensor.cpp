#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <stdexcept>

#include "core/autograd.h"
#include "core/generator.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/storage_pool.h"

namespace qkv {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

int64_t shape_numel(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw std::invalid_argument("negative dimension in shape " + shape_str(shape));
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw std::invalid_argument("shape " + shape_str(shape) + " has more elements than an int64 counts");
  return n;
}

// ---- creation ----

Tensor Tensor::empty(const Shape& shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->numel = shape_numel(shape);
  impl->storage = allocate_storage(impl->numel);
  return Tensor(std::move(impl));
}

Tensor Tensor::full(const Shape& shape, Scalar value) {
  Tensor t = empty(shape);
  Scalar* data = t.data();
  parallel_for(t.numel(), 1, [&](int64_t begin, int64_t end) { std::fill(data + begin, data + end, value); });
  return t;
}
Tensor Tensor::zeros(const Shape& shape) { return full(shape, Scalar(0)); }
Tensor Tensor::ones(const Shape& shape) { return full(shape, Scalar(1)); }
Tensor Tensor::scalar(Scalar value) { return full({}, value); }

Tensor Tensor::from(std::vector<Scalar> values, const Shape& shape) {
  if (static_cast<int64_t>(values.size()) != shape_numel(shape))
    throw std::invalid_argument("Tensor::from: " + std::to_string(values.size()) +
                                " values do not fill shape " + shape_str(shape));
  return from_buffer(values.data(), shape);
}

Tensor Tensor::from(std::initializer_list<Scalar> values) {
  return from(std::vector<Scalar>(values), {static_cast<int64_t>(values.size())});
}

Tensor Tensor::from_buffer(const Scalar* data, const Shape& shape) {
  Tensor t = empty(shape);
  if (t.numel() > 0) std::memcpy(t.data(), data, sizeof(Scalar) * t.numel());
  return t;
}

Tensor Tensor::arange(int64_t n) {
  Tensor t = empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<Scalar>(i);
  return t;
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, Scalar mean, Scalar stddev) {
  Tensor t = empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = mean + stddev * static_cast<Scalar>(gen.normal());
  return t;
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, Scalar low, Scalar high) {
  Tensor t = empty(shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.data()[i] = low + (high - low) * static_cast<Scalar>(gen.uniform());
  return t;
}

// ---- access ----

void Tensor::require_defined(const char* what) const {
  if (!impl_) throw std::logic_error(std::string(what) + ": the tensor is undefined");
}

const Shape& Tensor::shape() const {
  require_defined("shape");
  return impl_->shape;
}

int64_t Tensor::numel() const {
  require_defined("numel");
  return impl_->numel;
}

int64_t Tensor::size(int64_t axis) const {
  const int64_t r = dim();
  if (axis < -r || axis >= r)
    throw std::out_of_range("size: axis " + std::to_string(axis) + " out of range for shape " +
                            shape_str(shape()));
  return shape()[axis < 0 ? axis + r : axis];
}

Scalar* Tensor::undefined_data() const { throw std::logic_error("data: the tensor is undefined"); }

Scalar Tensor::item() const {
  if (numel() != 1)
    throw std::invalid_argument("item: needs a one-element tensor, got shape " + shape_str(shape()));
  return data()[0];
}

static int64_t flat_index(const Shape& shape, const std::vector<int64_t>& index) {
  if (index.size() != shape.size())
    throw std::out_of_range("index of rank " + std::to_string(index.size()) +
                            " for a tensor of shape " + shape_str(shape));
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (index[i] < 0 || index[i] >= shape[i])
      throw std::out_of_range("index " + std::to_string(index[i]) + " out of range for axis " +
                              std::to_string(i) + " of shape " + shape_str(shape));
    flat = flat * shape[i] + index[i];
  }
  return flat;
}

Scalar Tensor::at(const std::vector<int64_t>& index) const { return data()[flat_index(shape(), index)]; }
void Tensor::set(const std::vector<int64_t>& index, Scalar value) { data()[flat_index(shape(), index)] = value; }

std::vector<Scalar> Tensor::to_vector() const { return std::vector<Scalar>(data(), data() + numel()); }

Tensor Tensor::clone() const { return from_buffer(data(), shape()); }

bool Tensor::same_storage(const Tensor& other) const {
  return impl_ && other.impl_ && impl_->storage == other.impl_->storage;
}

// ---- autograd state ----

std::shared_ptr<AutogradMeta> Tensor::autograd_meta() const {
  require_defined("autograd_meta");
  if (!impl_->meta) impl_->meta = std::make_shared<AutogradMeta>();
  return impl_->meta;
}

bool Tensor::requires_grad() const { return impl_ && impl_->meta && impl_->meta->requires_grad; }

bool Tensor::is_leaf() const { return !(impl_ && impl_->meta && impl_->meta->grad_fn); }

Tensor& Tensor::requires_grad_(bool on) {
  if (!is_leaf())
    throw std::logic_error("requires_grad_: only leaf tensors can change requires_grad "
                           "(use detach() to make a leaf)");
  autograd_meta()->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  if (!impl_ || !impl_->meta || !impl_->meta->grad) return Tensor();
  return Tensor(impl_->meta->grad);
}

void Tensor::zero_grad() {
  if (impl_ && impl_->meta) impl_->meta->grad.reset();
}

void Tensor::retain_grad() {
  if (!requires_grad()) throw std::logic_error("retain_grad: the tensor does not require grad");
  autograd_meta()->retains_grad = true;
}

void Tensor::backward() const {
  require_defined("backward");
  if (numel() != 1)
    throw std::logic_error("backward: the tensor has shape " + shape_str(shape()) +
                           "; a non-scalar needs an explicit seed gradient, backward(seed)");
  run_backward(*this, Tensor::ones(shape()));
}

void Tensor::backward(const Tensor& seed) const {
  require_defined("backward");
  if (!seed.defined() || seed.shape() != shape())
    throw std::invalid_argument("backward: seed shape " +
                                (seed.defined() ? shape_str(seed.shape()) : "undefined") +
                                " differs from the tensor's shape " + shape_str(shape()));
  run_backward(*this, seed);
}

Tensor Tensor::detach() const {
  require_defined("detach");
  auto impl = std::make_shared<TensorImpl>(*impl_);
  impl->meta.reset();
  return Tensor(std::move(impl));
}

// ---- operators ----

Tensor Tensor::operator-() const { return neg(*this); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, Scalar b) { return add(a, b); }
Tensor operator-(const Tensor& a, Scalar b) { return add(a, -b); }
Tensor operator*(const Tensor& a, Scalar b) { return mul(a, b); }
Tensor operator/(const Tensor& a, Scalar b) { return mul(a, Scalar(1) / b); }
Tensor operator+(Scalar a, const Tensor& b) { return add(b, a); }
Tensor operator-(Scalar a, const Tensor& b) { return rsub(a, b); }
Tensor operator*(Scalar a, const Tensor& b) { return mul(b, a); }
Tensor operator/(Scalar a, const Tensor& b) { return rdiv(a, b); }

// ---- printing ----

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "Tensor(undefined)";
  os << "Tensor(shape=" << shape_str(t.shape());
  if (t.requires_grad()) os << ", requires_grad";
  os << ", values=[";
  const int64_t n = t.numel();
  constexpr int64_t kEdge = 6;
  for (int64_t i = 0; i < n; ++i) {
    if (n > 2 * kEdge && i == kEdge) {
      os << ", ...";
      i = n - kEdge;
    }
    os << (i ? ", " : "") << std::setprecision(6) << t.data()[i];
  }
  return os << "])";
}

}  // namespace qkv
