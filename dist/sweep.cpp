#include "dist/sweep.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <stdexcept>

#include "dist/communicator.h"

namespace qkv::dist {

std::vector<int> assign_cells(const std::vector<double>& expected_costs, int ranks) {
  std::vector<size_t> order(expected_costs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return expected_costs[a] > expected_costs[b]; });
  std::vector<double> load(static_cast<size_t>(ranks), 0.0);
  std::vector<int> owner(expected_costs.size(), 0);
  for (size_t cell : order) {
    const auto least = std::min_element(load.begin(), load.end()) - load.begin();
    owner[cell] = static_cast<int>(least);
    load[static_cast<size_t>(least)] += expected_costs[cell];
  }
  return owner;
}

namespace {
// A rank's results travel as (cell index, byte count, bytes) records, one after another.
void append_record(std::string& out, uint64_t cell, const std::string& bytes) {
  const uint64_t header[2] = {cell, bytes.size()};
  out.append(reinterpret_cast<const char*>(header), sizeof header);
  out += bytes;
}
}  // namespace

std::vector<std::string> run_sweep(const std::vector<double>& expected_costs,
                                   const std::function<std::string(size_t)>& run_cell) {
  const std::vector<int> owner = assign_cells(expected_costs, size());
  std::string mine;
  for (size_t cell = 0; cell < owner.size(); ++cell) {
    if (owner[cell] != rank()) continue;
    const AloneScope alone;  // the cell is a run of its own, not a data-parallel one
    append_record(mine, cell, run_cell(cell));
  }
  const std::vector<std::string> parts = gather_to_root(mine);
  std::vector<std::string> results(parts.empty() ? 0 : owner.size());
  for (const std::string& part : parts) {
    for (size_t at = 0; at < part.size();) {
      uint64_t header[2];
      std::memcpy(header, part.data() + at, sizeof header);
      at += sizeof header;
      results.at(header[0]) = part.substr(at, header[1]);
      at += header[1];
    }
  }
  return results;
}

}  // namespace qkv::dist
