// kernels::set_bf16_pays for one scope, undone however the scope ends (a failed REQUIRE
// included): true runs the bf16 path under test on any CPU, false gives the float32 path of
// a CPU where bf16 does not pay.
#pragma once

#include "core/ops/gemm_dispatch.h"

namespace qkv::testing {

struct Bf16Pays {
  explicit Bf16Pays(bool pays = true) { kernels::set_bf16_pays(pays); }
  ~Bf16Pays() { kernels::set_bf16_pays(std::nullopt); }
  Bf16Pays(const Bf16Pays&) = delete;
  Bf16Pays& operator=(const Bf16Pays&) = delete;
};

}  // namespace qkv::testing
