// Sweeps of independent runs over the ranks of an MPI job (dist/communicator.h): each rank
// runs its share of the cells, and rank 0 gathers every cell's result, as bytes, in cell
// order, to write the same tables a one-process run writes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace qkv::dist {

// The rank that runs each cell, balancing expected cost: the costliest cell first, each to
// the rank with the least cost so far (ties to the lowest rank), so that a d_k = 1024
// run does not land beside three others on one rank while another rank idles.
std::vector<int> assign_cells(const std::vector<double>& expected_costs, int ranks);

// Calls run_cell(i) for this rank's cells (assign_cells over size() ranks), each inside an
// AloneScope so that a trainer it runs trains alone rather than with the other ranks, and returns
// on rank 0 every cell's bytes, in cell order; on the other ranks, an empty vector.
std::vector<std::string> run_sweep(const std::vector<double>& expected_costs,
                                   const std::function<std::string(size_t)>& run_cell);

}  // namespace qkv::dist
