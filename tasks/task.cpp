#include "tasks/task.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/generator.h"
#include "tasks/pixels.h"
#include "tasks/recall.h"
#include "tasks/sequence_tasks.h"

namespace qkv {

TaskOptionError::TaskOptionError(const std::string& task, std::string option,
                                 std::string expected, std::string found)
    : std::invalid_argument(task + " task: " + option + ": expected " + expected + ", found " +
                            found),
      option_(std::move(option)),
      expected_(std::move(expected)),
      found_(std::move(found)) {}

Batch Task::sample(int64_t batch_size, Generator& gen) const {
  if (batch_size < 1)
    throw std::invalid_argument(name() + " task: batch_size must be at least 1, found " +
                                std::to_string(batch_size));
  return generate(batch_size, gen);
}

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> names{"recall", "copy", "reverse", "shift", "sort",
                                              "pixels"};
  return names;
}

namespace {
// Reads make_task's options object: each key must be one the task declares, holding an
// integer; absent keys keep the Options struct's default.
class OptionReader {
 public:
  OptionReader(const std::string& task, const nlohmann::json& options) : task_(task), options_(options) {
    if (!options_.is_null() && !options_.is_object())
      throw std::invalid_argument(task + " task: options must be a JSON object, found " +
                                  options_.dump());
  }
  OptionReader& read(const char* key, int64_t& value) {
    known_.push_back(key);
    if (options_.is_null() || !options_.contains(key)) return *this;
    const nlohmann::json& v = options_.at(key);
    if (!v.is_number_integer()) throw TaskOptionError(task_, key, "an integer", v.dump());
    value = v.get<int64_t>();
    return *this;
  }
  void reject_unknown() const {
    if (options_.is_null()) return;
    for (const auto& [key, value] : options_.items()) {
      if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
      std::string list;
      for (const std::string& k : known_) list += (list.empty() ? "" : ", ") + k;
      throw TaskOptionError(task_, key, "one of the options of this task (" + list + ")",
                            "an option it does not use");
    }
  }

 private:
  std::string task_;
  const nlohmann::json& options_;
  std::vector<std::string> known_;
};
}  // namespace

std::unique_ptr<Task> make_task(const std::string& name, const nlohmann::json& options) {
  OptionReader reader(name, options);
  if (name == "recall") {
    RecallOptions o;
    reader.read("seq_len", o.seq_len).read("vocab", o.vocab).read("pairs", o.pairs).reject_unknown();
    return std::make_unique<RecallTask>(o);
  }
  if (name == "copy" || name == "reverse" || name == "sort") {
    SequenceOptions o;
    reader.read("seq_len", o.seq_len).read("vocab", o.vocab).reject_unknown();
    const SequenceMode mode = name == "copy"      ? SequenceMode::copy
                              : name == "reverse" ? SequenceMode::reverse
                                                  : SequenceMode::sort;
    return std::make_unique<SequenceTask>(mode, o);
  }
  if (name == "shift") {
    ShiftOptions o;
    reader.read("seq_len", o.seq_len).read("vocab", o.vocab).read("shift", o.shift).reject_unknown();
    return std::make_unique<ShiftTask>(o);
  }
  if (name == "pixels") {
    PixelsOptions o;
    reader.read("seq_len", o.seq_len).read("image_size", o.image_size).read("shapes", o.shapes)
        .reject_unknown();
    return std::make_unique<PixelsTask>(o);
  }
  std::string list;
  for (const std::string& n : task_names()) list += (list.empty() ? "" : ", ") + n;
  throw std::invalid_argument("make_task: unknown task \"" + name + "\"; known tasks: " + list);
}

std::vector<Batch> held_out_batches(const Task& task, int64_t count, int64_t batch_size,
                                    uint64_t seed) {
  Generator gen(seed);
  std::vector<Batch> batches;
  batches.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  for (int64_t i = 0; i < count; ++i) batches.push_back(task.sample(batch_size, gen));
  return batches;
}

}  // namespace qkv
