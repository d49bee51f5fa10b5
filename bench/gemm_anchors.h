// The GEMMs qkv's matrix product is measured against: OpenBLAS (its OpenMP build), BLIS
// (its OpenMP build) and oneDNN, called through their C APIs. Each is loaded with dlopen
// when the benchmark asks for it (bench/deps.sh installs them), so neither qkv nor
// qkv_bench needs them to build, and a missing one is reported rather than fatal.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace qkv_bench {

// C [m, n] = op(A) op(B), all row-major; op(A) is A^T when `ta` (A stored [k, m]).
using Sgemm = std::function<void(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
                                 float* c)>;

struct GemmAnchor {
  std::string name;    // openblas, blis, onednn
  std::string kernel;  // what the library says it runs: OpenBLAS's core, BLIS's sub-configuration, oneDNN's version
  std::string error;   // why it could not be loaded, or empty
  Sgemm sgemm;
  std::function<void(int)> set_threads;
};

// The named anchors, loaded (or with `error` set).
std::vector<GemmAnchor> load_anchors(const std::vector<std::string>& names);

}  // namespace qkv_bench
