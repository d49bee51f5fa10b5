// `qkv_bench kernels`: qkv's matrix product against the GEMMs of OpenBLAS, BLIS and
// oneDNN (bench/gemm_anchors.h), on square sizes and on the products of every benchmark
// model, one JSON line per product.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qkv_bench {

// `configs`: the folder of the benchmark models' configs (configs/bench); `anchors`: the
// libraries to time (openblas, blis, onednn), each loaded at run time if installed.
void bench_kernels(int64_t repeats, const std::string& configs, const std::vector<std::string>& anchors);

}  // namespace qkv_bench
