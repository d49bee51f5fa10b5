// SequenceModel: a per-token classifier built from the layers of this directory:
//   input (token Embedding, or a Linear projection of continuous features [B, N, F])
//   -> positional encoding -> `layers` pre-LN EncoderBlocks -> final LayerNorm
//   -> per-token Linear head -> logits [B, N, num_classes].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/embedding.h"
#include "layers/encoder.h"
#include "layers/module_list.h"
#include "layers/positional.h"

namespace qkv {

struct SequenceModelOptions {
  int64_t vocab_size = 0;      // > 0: token ids in; 0: continuous features in
  int64_t input_features = 0;  // F of continuous input [B, N, F] when vocab_size == 0
  int64_t num_classes = 0;
  int64_t max_len = 0;
  int64_t d_model = 64;
  int64_t heads = 1;
  int64_t d_head = 0;  // 0 means d_model / heads
  int64_t layers = 1;
  int64_t d_ff = 0;  // 0 means 4 * d_model
  Scalar dropout = 0;
  ActivationKind activation = ActivationKind::relu;
  // added to the input (none, sinusoidal, learned) or in every layer's scorer (rope, alibi)
  PositionKind positional = PositionKind::sinusoidal;
  // .kind ("additive" | "dot" | "general" | "scaled_dot" | a registered kind), .scale
  // (scaled_dot), .additive_hidden, .relative_bias (none | clipped window | t5 buckets).
  ScorerOptions scorer;
  bool causal = false;
  // Attention variants of every layer (AttentionOptions): fewer key/value heads, a sliding
  // window, a sink logit per head, sigmoid weights.
  int64_t kv_heads = 0;
  int64_t window = 0;
  bool sink = false;
  AttentionNormalizer normalizer = AttentionNormalizer::softmax;
  // σReparam (layers/sigma_reparam.h) on every layer's attention and feed-forward Linears.
  bool sigma_reparam = false;
  bool keep_attention_weights = false;  // forward() returns every layer's weights
  // forward() returns every layer's row statistics (fused layers), or its weights (layers
  // that run composed), without asking a fused layer for its weights.
  bool keep_attention_stats = false;
};

struct SequenceModelOutput {
  Tensor logits;                         // [B, N, num_classes]
  std::vector<Tensor> attention_weights;  // per layer [B, H, N, N]; empty unless kept
  // per layer [B, H, N, kAttentionRowStats] when kept and the layer ran fused (else
  // undefined, and that layer's weights are in attention_weights)
  std::vector<Tensor> attention_row_stats;
};

class SequenceModel : public Module {
 public:
  SequenceModel(const SequenceModelOptions& options, Generator& gen);  // all draws from gen

  SequenceModelOutput forward(const Indices& tokens, const Tensor& key_padding = {});  // tokens [B, N]
  SequenceModelOutput forward(const Tensor& features, const Tensor& key_padding = {});  // [B, N, F]

  void keep_attention_weights(bool on) { options_.keep_attention_weights = on; }
  void keep_attention_stats(bool on) { options_.keep_attention_stats = on; }
  const SequenceModelOptions& options() const { return options_; }

 private:
  SequenceModelOutput run(const Tensor& embedded, const Tensor& key_padding);

  SequenceModelOptions options_;
  std::shared_ptr<Embedding> embedding_;  // token input
  std::shared_ptr<Linear> input_projection_;  // continuous input
  std::shared_ptr<PositionalEncoding> positional_;
  std::shared_ptr<ModuleList<EncoderBlock>> blocks_;
  std::shared_ptr<LayerNorm> final_norm_;
  std::shared_ptr<Linear> head_;
};

}  // namespace qkv
