// libFuzzer target: the readers of a run's metrics.jsonl and probes.jsonl (what plot_runs
// reads) on arbitrary bytes, each input read as both. Every input must end in rows or a
// RunLogError; a probes table must also be rectangular (every row as wide as the first
// row's heads and parameters), which the plot's column numbers rely on.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "train/run_logs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    qkv::parse_metrics_jsonl(text, "fuzz input");
  } catch (const qkv::RunLogError&) {
  }
  try {
    const qkv::ProbesTable table = qkv::parse_probes_jsonl(text, "fuzz input");
    for (const qkv::ProbesTable::Row& row : table.rows)
      if (row.attention.size() != 4 * table.heads() || row.parameters.size() != 2 * table.parameters.size())
        __builtin_trap();
  } catch (const qkv::RunLogError&) {
  }
  return 0;
}
