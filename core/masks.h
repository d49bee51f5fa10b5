// The mask_mods qkv ships (core/score_mod.h has the interface): each knows its blocks, so
// the fused kernel skips what is hidden. Key j is hidden from query i when:
#pragma once

#include <memory>
#include <vector>

#include "core/score_mod.h"

namespace qkv {

// j > i (decoder self-attention).
std::shared_ptr<const MaskMod> causal_mask();
// |i - j| >= window, and j > i too when causal (Mistral's window: query i sees keys
// i - window + 1 .. i). window >= 1.
std::shared_ptr<const MaskMod> sliding_window_mask(int64_t window, bool causal);
// padding[b, j] != 0: padding [B, Nk] of 0/1, as a batch of sequences of several lengths has.
std::shared_ptr<const MaskMod> key_padding_mask(const Tensor& padding);
// Prefix language model (Raffel et al. 2020): every query sees the first `prefix` keys, and
// after them only keys j <= i.
std::shared_ptr<const MaskMod> prefix_mask(int64_t prefix);
// Document packing: query i sees key j only inside its own document (document[i] ==
// document[j]), and only j <= i too when causal. One id per position, shared by the batch.
std::shared_ptr<const MaskMod> document_mask(std::vector<int64_t> document, bool causal);
// Hidden when any of `masks` hides it; null entries are skipped; null when none is left.
std::shared_ptr<const MaskMod> mask_union(const std::vector<std::shared_ptr<const MaskMod>>& masks);

// The mask as a tensor [B, H, Nq, Nk], 1 where hidden: what the composed attention path and
// tests use.
Tensor mask_tensor(const MaskMod& mask, int64_t batch, int64_t heads, int64_t query_length, int64_t key_length);

}  // namespace qkv
