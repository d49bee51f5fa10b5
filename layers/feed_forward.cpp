#include "layers/feed_forward.h"

namespace qkv {

FeedForward::FeedForward(const FeedForwardOptions& options, Generator& gen) : activation_(options.activation) {
  in_ = register_module("in", std::make_shared<Linear>(LinearOptions{.in_features = options.d_model, .out_features = options.d_ff,
                                                                                .sigma_reparam = options.sigma_reparam}, gen));
  out_ = register_module("out", std::make_shared<Linear>(LinearOptions{.in_features = options.d_ff, .out_features = options.d_model,
                                                                                .sigma_reparam = options.sigma_reparam}, gen));
  dropout_ = register_module("dropout", std::make_shared<Dropout>(options.dropout, gen));
}

Tensor FeedForward::forward(const Tensor& x) {
  return out_->forward(dropout_->forward(activate(activation_, in_->forward(x))));
}

}  // namespace qkv
