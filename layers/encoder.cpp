#include "layers/encoder.h"

#include "core/ops.h"

namespace qkv {

EncoderBlock::EncoderBlock(const EncoderBlockOptions& options, Generator& gen) {
  const int64_t d_model = options.attention.d_model;
  norm1_ = register_module("norm1", std::make_shared<LayerNorm>(LayerNormOptions{.dim = d_model, .eps = options.layer_norm_eps}));
  attention_ = register_module("attn", std::make_shared<MultiHeadAttention>(options.attention, gen));
  norm2_ = register_module("norm2", std::make_shared<LayerNorm>(LayerNormOptions{.dim = d_model, .eps = options.layer_norm_eps}));
  feed_forward_ = register_module(
      "ff", std::make_shared<FeedForward>(FeedForwardOptions{.d_model = d_model,
                                                             .d_ff = options.d_ff > 0 ? options.d_ff : 4 * d_model,
                                                             .activation = options.activation,
                                                             .dropout = options.dropout,
                                                             .sigma_reparam = options.sigma_reparam},
                                          gen));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout, gen));
}

AttentionResult EncoderBlock::forward(const Tensor& x, const Tensor& key_padding, bool need_weights) {
  AttentionResult attended = attention_->forward(norm1_->forward(x), key_padding, need_weights);
  const Tensor h = add(x, dropout_->forward(attended.output));
  attended.output = add(h, dropout_->forward(feed_forward_->forward(norm2_->forward(h))));
  return attended;
}

}  // namespace qkv
