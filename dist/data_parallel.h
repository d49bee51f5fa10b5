// Data-parallel training over the ranks of an MPI job (dist/communicator.h): every rank
// holds an identical replica, samples the same global batch from the run's generator (so
// N ranks see the samples one process sees), trains on its own rows of it, and the
// gradients are summed over ranks, each weighted by its share of the batch's scored
// targets, before clipping and the optimiser step.
//
// Why that weight: the loss is a mean over scored targets, so a rank's gradient is the
// mean over its own targets; weighting it by scored_on_rank / scored_in_batch makes the
// sum the gradient of the whole batch, however the scored targets fall across ranks.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "tasks/task.h"

namespace qkv::dist {

// A rank's rows of a global batch and its weight in the average.
struct BatchShare {
  Batch batch;
  int64_t first_row = 0;
  int64_t rows = 0;
  int64_t global_rows = 0;
  double weight = 1;  // scored targets in these rows / scored targets in the whole batch
};

// Rows [first_row, first_row + rows) of the batch for `rank` of `ranks`: a batch of B rows
// gives every rank B / ranks rows and the first B % ranks ranks one more. Throws
// std::invalid_argument when there are more ranks than rows.
BatchShare share_of_batch(const Batch& batch, int rank, int ranks);

// Gradient buckets: the gradients of `parameters`, in order, seen as one flat vector and
// summed over ranks in pieces of bucket_bytes through one reusable staging buffer. A few
// large calls cost the latency of a few (per call, not per tensor), and the buffer stays
// one bucket large instead of a second copy of every gradient.
class GradientReducer {
 public:
  static constexpr int64_t kDefaultBucketBytes = int64_t{4} << 20;
  explicit GradientReducer(std::vector<Tensor> parameters, int64_t bucket_bytes = kDefaultBucketBytes);

  // Every gradient becomes sum over ranks of (weight on that rank) * (its gradient there).
  void sum_weighted(double weight);

  int64_t bytes_per_step() const;  // what one sum_weighted sends into the allreduce
  int64_t buckets() const;

 private:
  template <class CopyPiece>
  void for_each_piece(int64_t begin, int64_t end, CopyPiece copy);

  std::vector<Tensor> parameters_;
  std::vector<int64_t> offsets_;  // where each parameter starts in the flat vector
  int64_t total_ = 0;
  int64_t bucket_elements_ = 0;
  std::vector<Scalar> staging_;
};

// Whether every rank holds the same parameters, bit for bit (compares a 64-bit FNV-1a hash).
// MPI does not promise every rank the same bits from a floating-point allreduce; OpenMPI's
// and MPICH's algorithms give them, and a checkpoint checks that they did.
bool replicas_agree(const std::vector<Tensor>& parameters);

}  // namespace qkv::dist
