#include "experiments/training_sweep.h"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "dist/communicator.h"
#include "dist/sweep.h"

namespace qkv {
namespace {
class ByteWriter {
 public:
  template <class T>
  void put(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof value);
  }
  template <class T>
  void put_vector(const std::vector<T>& values) {
    put<uint64_t>(values.size());
    bytes_.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  }
  void put(const Tensor& t) {
    put<uint8_t>(t.defined());
    if (!t.defined()) return;
    put_vector(t.shape());
    put_vector(std::vector<Scalar>(t.data(), t.data() + t.numel()));
  }
  void put(const Indices& x) {
    put_vector(x.values);
    put_vector(x.shape);
  }
  std::string take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

class ByteReader {
 public:
  explicit ByteReader(const std::string& bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    T value;
    read(&value, sizeof value);
    return value;
  }
  template <class T>
  std::vector<T> get_vector() {
    std::vector<T> values(get<uint64_t>());
    read(values.data(), values.size() * sizeof(T));
    return values;
  }
  Tensor get_tensor() {
    if (!get<uint8_t>()) return {};
    const Shape shape = get_vector<int64_t>();
    return Tensor::from(get_vector<Scalar>(), shape);
  }
  Indices get_indices() {
    std::vector<int64_t> values = get_vector<int64_t>();
    return Indices::from(std::move(values), get_vector<int64_t>());
  }

 private:
  void read(void* out, size_t n) {
    if (at_ + n > bytes_.size()) throw std::runtime_error("training sweep: a gathered result is cut short");
    std::memcpy(out, bytes_.data() + at_, n);
    at_ += n;
  }
  const std::string& bytes_;
  size_t at_ = 0;
};

TrainedCell train_cell(const TrainingProbeOptions& options, const ModelMeasure& measure) {
  TrainedCell cell{run_training_probe(options), 0};
  if (measure) cell.measure = measure(cell.result);
  cell.result.model.reset();
  return cell;
}
}  // namespace

std::string serialize_trained_cell(const TrainedCell& cell) {
  const TrainingProbeResult& r = cell.result;
  ByteWriter w;
  w.put_vector(r.curve);
  w.put(r.step_reaching_90);
  w.put(r.chance_accuracy);
  w.put(r.seconds_per_step);
  w.put(r.median_seconds_per_step);
  w.put(r.parameter_count);
  w.put(r.sample_weights);
  w.put<uint64_t>(r.sample_attention.size());
  for (const Tensor& t : r.sample_attention) w.put(t);
  w.put(r.sample_input.tokens);
  w.put(r.sample_input.features);
  w.put(r.sample_input.targets);
  w.put(cell.measure);
  return w.take();
}

TrainedCell deserialize_trained_cell(const std::string& bytes) {
  ByteReader in(bytes);
  TrainedCell cell;
  TrainingProbeResult& r = cell.result;
  r.curve = in.get_vector<CurvePoint>();
  r.step_reaching_90 = in.get<int64_t>();
  r.chance_accuracy = in.get<double>();
  r.seconds_per_step = in.get<double>();
  r.median_seconds_per_step = in.get<double>();
  r.parameter_count = in.get<int64_t>();
  r.sample_weights = in.get_tensor();
  r.sample_attention.resize(in.get<uint64_t>());
  for (Tensor& t : r.sample_attention) t = in.get_tensor();
  r.sample_input.tokens = in.get_indices();
  r.sample_input.features = in.get_tensor();
  r.sample_input.targets = in.get_indices();
  cell.measure = in.get<double>();
  return cell;
}

double expected_training_cost(const TrainingProbeOptions& o) {
  const SequenceModelOptions& m = o.model;
  const double n = static_cast<double>(o.task_options.value("seq_len", int64_t{16}));
  const double d = static_cast<double>(m.d_model);
  const double width = static_cast<double>(m.heads * (m.d_head > 0 ? m.d_head : m.d_model / m.heads));
  const double d_ff = static_cast<double>(m.d_ff > 0 ? m.d_ff : 4 * m.d_model);
  // Per token and layer: Q, K, V and output projections, the feed-forward, and scores and
  // weighted values against n keys.
  const double per_token = 4 * d * width + 2 * d * d_ff + 2 * n * width;
  return static_cast<double>(o.steps * o.batch_size * m.layers) * n * per_token;
}

TrainingSweep::TrainingSweep(std::vector<TrainingProbeOptions> cells, ModelMeasure measure)
    : cells_(std::move(cells)), measure_(std::move(measure)) {
  if (dist::size() == 1) return;
  std::vector<double> costs;
  for (const TrainingProbeOptions& c : cells_) costs.push_back(expected_training_cost(c));
  gathered_ = dist::run_sweep(costs, [&](size_t i) { return serialize_trained_cell(train_cell(cells_[i], measure_)); });
}

TrainedCell TrainingSweep::take(size_t cell) {
  if (dist::size() == 1) return train_cell(cells_.at(cell), measure_);
  if (gathered_.empty()) throw std::logic_error("TrainingSweep::take: only rank 0 holds the results");
  TrainedCell trained = deserialize_trained_cell(gathered_.at(cell));
  gathered_[cell].clear();
  return trained;
}

}  // namespace qkv
