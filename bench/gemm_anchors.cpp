#include "bench/gemm_anchors.h"

#include <dlfcn.h>

#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace qkv_bench {
namespace {

// The first of the paths that dlopen finds, or null. RTLD_LOCAL: OpenBLAS and BLIS both
// define cblas_sgemm; each library's symbols are looked up in its own handle.
void* open_first(const std::vector<std::string>& paths) {
  for (const std::string& path : paths)
    if (void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  return nullptr;
}

template <class F>
F symbol(void* handle, const char* name) {
  void* address = dlsym(handle, name);
  if (!address) throw std::runtime_error(std::string("no symbol ") + name);
  return reinterpret_cast<F>(address);
}

// OpenBLAS's CBLAS (32-bit integers in Debian's libopenblas.so.0).
GemmAnchor openblas() {
  GemmAnchor anchor{.name = "openblas"};
  void* handle = open_first({"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", "libopenblas.so.0"});
  if (!handle) {
    anchor.error = "not installed (bash bench/deps.sh)";
    return anchor;
  }
  using Gemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;  // CBLAS's enums
  const auto gemm = symbol<Gemm>(handle, "cblas_sgemm");
  const auto threads = symbol<void (*)(int)>(handle, "openblas_set_num_threads");
  anchor.kernel = symbol<char* (*)()>(handle, "openblas_get_corename")();
  anchor.sgemm = [gemm](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
    gemm(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, int(m), int(n), int(k), 1.0f, a, int(ta ? m : k),
         b, int(tb ? k : n), 0.0f, c, int(n));
  };
  anchor.set_threads = [threads](int n) { threads(n); };
  return anchor;
}

// BLIS's own typed API, whose dimensions and strides are 64-bit (dim_t, inc_t).
GemmAnchor blis() {
  GemmAnchor anchor{.name = "blis"};
  void* handle = open_first({"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4"});
  if (!handle) {
    anchor.error = "not installed (bash bench/deps.sh)";
    return anchor;
  }
  using Gemm = void (*)(int, int, int64_t, int64_t, int64_t, const float*, const float*, int64_t, int64_t,
                        const float*, int64_t, int64_t, const float*, float*, int64_t, int64_t);
  constexpr int kNoTranspose = 0, kTranspose = 1 << 3;  // trans_t: BLIS_TRANS_BIT
  const auto gemm = symbol<Gemm>(handle, "bli_sgemm");
  const auto threads = symbol<void (*)(int64_t)>(handle, "bli_thread_set_num_threads");
  const auto arch = symbol<int (*)()>(handle, "bli_arch_query_id");
  anchor.kernel = symbol<char* (*)(int)>(handle, "bli_arch_string")(arch());
  anchor.sgemm = [gemm](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
    const float one = 1, zero = 0;
    gemm(ta ? kTranspose : kNoTranspose, tb ? kTranspose : kNoTranspose, m, n, k, &one, a, ta ? m : k, 1, b,
         tb ? k : n, 1, &zero, c, n, 1);
  };
  anchor.set_threads = [threads](int n) { threads(n); };
  return anchor;
}

// oneDNN's dnnl_sgemm (row-major); it runs on OpenMP's thread count.
GemmAnchor onednn() {
  GemmAnchor anchor{.name = "onednn"};
  void* handle = open_first({"libdnnl.so.3", "libdnnl.so.2"});
  if (!handle) {
    anchor.error = "not installed (bash bench/deps.sh)";
    return anchor;
  }
  using Gemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                       float, float*, int64_t);
  struct Version {
    int major, minor, patch;
  };
  const auto gemm = symbol<Gemm>(handle, "dnnl_sgemm");
  const Version* version = symbol<const Version* (*)()>(handle, "dnnl_version")();
  anchor.kernel = "oneDNN " + std::to_string(version->major) + "." + std::to_string(version->minor) + "." +
                  std::to_string(version->patch);
  anchor.sgemm = [gemm](bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
    if (gemm(ta ? 'T' : 'N', tb ? 'T' : 'N', m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, 0.0f, c, n) != 0)
      throw std::runtime_error("dnnl_sgemm failed");
  };
  anchor.set_threads = [](int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
  };
  return anchor;
}

}  // namespace

std::vector<GemmAnchor> load_anchors(const std::vector<std::string>& names) {
  std::vector<GemmAnchor> anchors;
  for (const std::string& name : names) {
    try {
      if (name == "openblas") anchors.push_back(openblas());
      else if (name == "blis") anchors.push_back(blis());
      else if (name == "onednn") anchors.push_back(onednn());
      else throw std::invalid_argument("unknown GEMM anchor '" + name + "': expected openblas, blis or onednn");
    } catch (const std::runtime_error& e) {
      anchors.push_back({.name = name, .error = e.what()});
    }
  }
  return anchors;
}

}  // namespace qkv_bench
