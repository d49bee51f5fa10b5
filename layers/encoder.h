// A pre-LayerNorm Transformer encoder block (Xiong et al. 2020):
//   x = x + Dropout(Attention(LN1(x)));  x = x + Dropout(FeedForward(LN2(x))).
// Pre-LN keeps an identity path from input to output, so deep stacks train without
// learning-rate warm-up; a SequenceModel adds the final LayerNorm that pre-LN needs.
#pragma once

#include <memory>

#include "layers/attention.h"
#include "layers/feed_forward.h"
#include "layers/layer_norm.h"

namespace qkv {

struct EncoderBlockOptions {
  AttentionOptions attention;  // its .dropout is the attention-weight dropout
  int64_t d_ff = 0;            // 0 means 4 * d_model
  ActivationKind activation = ActivationKind::relu;
  Scalar dropout = 0;  // on each residual branch and inside the feed-forward block
  Scalar layer_norm_eps = Scalar(1e-5);
  bool sigma_reparam = false;  // the feed-forward's Linears (the attention's: attention.sigma_reparam)
};

class EncoderBlock : public Module {
 public:
  EncoderBlock(const EncoderBlockOptions& options, Generator& gen);
  // x [B, N, d_model] -> {output [B, N, d_model], attention weights and scores [B, H, N, N]
  // when need_weights}.
  AttentionResult forward(const Tensor& x, const Tensor& key_padding = {}, bool need_weights = true);
  MultiHeadAttention& attention() { return *attention_; }

 private:
  std::shared_ptr<LayerNorm> norm1_, norm2_;
  std::shared_ptr<MultiHeadAttention> attention_;
  std::shared_ptr<FeedForward> feed_forward_;
  std::shared_ptr<Dropout> dropout_;
};

}  // namespace qkv
