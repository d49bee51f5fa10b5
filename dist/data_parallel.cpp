#include "dist/data_parallel.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/ops.h"
#include "dist/communicator.h"

namespace qkv::dist {
namespace {
Indices rows_of(const Indices& x, int64_t first, int64_t rows) {
  if (x.values.empty()) return x;
  const int64_t per_row = x.shape[0] == 0 ? 0 : static_cast<int64_t>(x.values.size()) / x.shape[0];
  Shape shape = x.shape;
  shape[0] = rows;
  return Indices::from(std::vector<int64_t>(x.values.begin() + first * per_row,
                                            x.values.begin() + (first + rows) * per_row),
                       shape);
}

int64_t scored(const Indices& targets, int64_t first, int64_t rows) {
  const int64_t per_row = targets.shape[0] == 0 ? 0 : static_cast<int64_t>(targets.values.size()) / targets.shape[0];
  return std::count_if(targets.values.begin() + first * per_row, targets.values.begin() + (first + rows) * per_row,
                       [](int64_t t) { return t != kIgnore; });
}
}  // namespace

BatchShare share_of_batch(const Batch& batch, int rank, int ranks) {
  const int64_t global_rows = batch.targets.shape.at(0);
  if (ranks > global_rows)
    throw std::invalid_argument("data parallel: " + std::to_string(ranks) + " ranks but train.batch_size is " +
                                std::to_string(global_rows) + "; every rank needs at least one row of the batch");
  BatchShare share;
  share.global_rows = global_rows;
  share.rows = global_rows / ranks + (rank < global_rows % ranks ? 1 : 0);
  share.first_row = rank * (global_rows / ranks) + std::min<int64_t>(rank, global_rows % ranks);
  if (ranks == 1) {
    share.batch = batch;
    return share;
  }
  share.batch.tokens = rows_of(batch.tokens, share.first_row, share.rows);
  share.batch.targets = rows_of(batch.targets, share.first_row, share.rows);
  if (batch.features.defined())
    share.batch.features = slice(batch.features, 0, share.first_row, share.first_row + share.rows).clone();
  const int64_t total = scored(batch.targets, 0, global_rows);
  share.weight = total == 0 ? 0.0 : static_cast<double>(scored(batch.targets, share.first_row, share.rows)) / total;
  return share;
}

GradientReducer::GradientReducer(std::vector<Tensor> parameters, int64_t bucket_bytes)
    : parameters_(std::move(parameters)) {
  for (const Tensor& p : parameters_) {
    offsets_.push_back(total_);
    total_ += p.numel();
  }
  bucket_elements_ = std::max<int64_t>(1, std::min<int64_t>(total_, bucket_bytes / int64_t{sizeof(Scalar)}));
  staging_.resize(static_cast<size_t>(bucket_elements_));
}

int64_t GradientReducer::bytes_per_step() const { return total_ * int64_t{sizeof(Scalar)}; }
int64_t GradientReducer::buckets() const { return (total_ + bucket_elements_ - 1) / bucket_elements_; }

// Calls copy(parameter index, offset in the parameter, offset in the bucket, count) for
// every piece of a parameter that falls inside the flat range [begin, end).
template <class CopyPiece>
void GradientReducer::for_each_piece(int64_t begin, int64_t end, CopyPiece copy) {
  auto first = std::upper_bound(offsets_.begin(), offsets_.end(), begin) - offsets_.begin() - 1;
  for (size_t i = static_cast<size_t>(first); i < parameters_.size() && offsets_[i] < end; ++i) {
    const int64_t from = std::max(begin, offsets_[i]);
    const int64_t to = std::min(end, offsets_[i] + parameters_[i].numel());
    if (from < to) copy(i, from - offsets_[i], from - begin, to - from);
  }
}

void GradientReducer::sum_weighted(double weight) {
  const Scalar w = static_cast<Scalar>(weight);
  for (int64_t begin = 0; begin < total_; begin += bucket_elements_) {
    const int64_t end = std::min(total_, begin + bucket_elements_);
    // A parameter the backward did not reach has no gradient; it adds zeros.
    for_each_piece(begin, end, [&](size_t i, int64_t at, int64_t to, int64_t n) {
      const Tensor grad = parameters_[i].grad();
      Scalar* out = staging_.data() + to;
      if (!grad.defined()) std::fill(out, out + n, Scalar{0});
      else
        for (int64_t k = 0; k < n; ++k) out[k] = w * grad.data()[at + k];
    });
    allreduce_sum(staging_.data(), end - begin);
    for_each_piece(begin, end, [&](size_t i, int64_t at, int64_t from, int64_t n) {
      Tensor grad = parameters_[i].grad();
      if (grad.defined()) std::memcpy(grad.data() + at, staging_.data() + from, static_cast<size_t>(n) * sizeof(Scalar));
    });
  }
}

bool replicas_agree(const std::vector<Tensor>& parameters) {
  uint64_t hash = 14695981039346656037ULL;
  for (const Tensor& p : parameters) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(p.data());
    for (size_t i = 0; i < static_cast<size_t>(p.numel()) * sizeof(Scalar); ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  }
  return same_on_every_rank(hash);
}

}  // namespace qkv::dist
