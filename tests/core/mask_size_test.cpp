// A mask that does not fit the attention is refused before the kernel starts, naming both
// sizes; an exception a mask throws inside the kernel's threads reaches the caller.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "core/generator.h"
#include "core/masks.h"
#include "core/ops.h"
#include "core/parallel.h"

using namespace qkv;

namespace {
// flex_attention forward and backward on q, k, v [batch, 2, n, 8] under `mask`, on 2 threads.
void attend(int64_t batch, int64_t n, std::shared_ptr<const MaskMod> mask) {
  Generator gen(3);
  const Tensor q = Tensor::randn({batch, 2, n, 8}, gen).requires_grad_();
  const Tensor k = Tensor::randn({batch, 2, n, 8}, gen), v = Tensor::randn({batch, 2, n, 8}, gen);
  FlexAttentionOptions options;
  options.mask_mod = std::move(mask);
  sum(flex_attention(q, k, v, options).output).backward();
}

// Hides nothing, but fails on one query, as a user's mask with a bug might.
class ThrowingMask : public MaskMod {
 public:
  bool visible(int64_t, int64_t, int64_t i, int64_t) const override {
    if (i == 77) throw std::runtime_error("a user's mask failed at query 77");
    return true;
  }
};
}  // namespace

TEST_CASE("a key padding or document mask of another size is refused with both sizes", "[masks]") {
  const int before = num_threads();
  set_num_threads(2);
  CHECK_THROWS_WITH(attend(4, 300, key_padding_mask(Tensor::zeros({1, 300}))),
                    "key_padding_mask: the padding is [1, 300], the attention has batch 4 and 300 keys");
  CHECK_THROWS_WITH(attend(2, 300, key_padding_mask(Tensor::zeros({2, 10}))),
                    "key_padding_mask: the padding is [2, 10], the attention has batch 2 and 300 keys");
  CHECK_THROWS_WITH(attend(1, 90, document_mask(std::vector<int64_t>(89, 0), false)),
                    "document_mask: 89 document ids, the attention has 90 queries and 90 keys");
  // Inside a union, and on the composed path.
  CHECK_THROWS_WITH(attend(4, 300, mask_union({causal_mask(), key_padding_mask(Tensor::zeros({1, 300}))})),
                    Catch::Contains("key_padding_mask: the padding is [1, 300]"));
  CHECK_THROWS_AS(mask_tensor(*key_padding_mask(Tensor::zeros({2, 10})), 2, 1, 300, 300), std::invalid_argument);
  // The sizes it was made for pass.
  CHECK_NOTHROW(attend(2, 300, key_padding_mask(Tensor::zeros({2, 300}))));
  CHECK_NOTHROW(attend(1, 90, document_mask(std::vector<int64_t>(90, 0), true)));
  set_num_threads(before);
}

TEST_CASE("an exception from a mask inside the kernel's threads reaches the caller", "[masks][threads]") {
  const int before = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    INFO(threads << " threads");
    CHECK_THROWS_WITH(attend(3, 100, std::make_shared<ThrowingMask>()), "a user's mask failed at query 77");
  }
  set_num_threads(before);
}
