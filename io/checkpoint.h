// Checkpoints: everything a run needs to continue exactly where it stopped, in one
// safetensors file.
//   tensors       "model.<parameter or buffer name>", "optim.<parameter name>.<slot>"
//   __metadata__  "format": "qkv.checkpoint.v1", "step": decimal, "config": JSON,
//                 "optimizer": JSON (kind, groups' rates, per-parameter update counts),
//                 "generator": JSON array of the 4 state words as decimal strings,
//                 "schedule": JSON (the schedule's to_json(); its position is "step")
//
// Every tensor's bytes carry a CRC-32C checksum in __metadata__ (io/safetensors.h), so
// a flipped bit is refused naming the tensor instead of resuming silently. Saving is
// atomic: a crash mid-save leaves the previous file intact. Loading checks the whole file
// (checksums, then against the model, optimiser, generator and schedule) before it
// changes any of them; any problem is one CheckpointError naming the file, the tensor and
// the problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "io/safetensors.h"

namespace qkv {

class Module;
class Optimizer;
class Generator;
class Schedule;

// What a checkpoint saves and restores. Only `model` is required: a checkpoint loaded
// without an optimiser (say, for evaluation) ignores the optimiser state in the file.
struct TrainingState {
  Module* model = nullptr;
  Optimizer* optimizer = nullptr;
  Generator* generator = nullptr;
  // Saved as its description. On load it must equal the saved one (a different schedule
  // would not continue the same run); its position is `step`.
  const Schedule* schedule = nullptr;
  int64_t step = 0;                 // updates done so far
  nlohmann::json config = nullptr;  // the run's resolved configuration
};

void save_checkpoint(const std::string& path, const TrainingState& state);
// Restores model parameters, optimiser state, generator state, step and config in place.
// A file without checksums (saved by an earlier qkv) loads with a one-line notice on
// stderr.
void load_checkpoint(const std::string& path, TrainingState& state);
// The same from the file's bytes; `source` names it in messages. Returns whether the file
// carried checksums (all verified), printing nothing.
bool decode_checkpoint(std::string_view bytes, const std::string& source, TrainingState& state);

// A checkpoint's metadata, checked as load_checkpoint checks it, without a model: what a
// caller needs to decide whether the file continues its run before loading it.
struct CheckpointInfo {
  int64_t step = 0;
  nlohmann::json config;                   // __metadata__ 'config', any JSON value
  std::optional<nlohmann::json> schedule;  // __metadata__ 'schedule' (an object), if saved
};
CheckpointInfo read_checkpoint_info(const std::string& path);
CheckpointInfo decode_checkpoint_info(std::string_view bytes, const std::string& source);

}  // namespace qkv
