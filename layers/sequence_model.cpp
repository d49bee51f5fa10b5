#include "layers/sequence_model.h"

#include <stdexcept>

#include "layers/activation.h"

namespace qkv {

SequenceModel::SequenceModel(const SequenceModelOptions& options, Generator& gen) : options_(options) {
  const auto& o = options_;
  if (o.num_classes <= 0 || o.max_len <= 0 || o.layers < 0)
    throw std::invalid_argument("SequenceModel: num_classes and max_len must be positive and layers >= 0");
  if (o.vocab_size < 0 || (o.vocab_size == 0 && o.input_features <= 0))
    throw std::invalid_argument("SequenceModel: set vocab_size > 0 for token input, or vocab_size = 0 and "
                                "input_features > 0 for continuous input");
  if (o.vocab_size > 0)
    embedding_ = register_module("embed", std::make_shared<Embedding>(EmbeddingOptions{.num_embeddings = o.vocab_size, .dim = o.d_model}, gen));
  else
    input_projection_ = register_module(
        "input", std::make_shared<Linear>(LinearOptions{.in_features = o.input_features, .out_features = o.d_model}, gen));
  // Both the input encoding and every layer's scorer get the kind; each acts on its own
  // kinds (absolute ones on the input, rope and alibi on the scores) and ignores the rest.
  ScorerOptions scorer = o.scorer;
  scorer.position = o.positional;
  positional_ = register_module(
      "pos", std::make_shared<PositionalEncoding>(
                 PositionalOptions{.kind = o.positional, .max_len = o.max_len, .d_model = o.d_model}, gen));
  const EncoderBlockOptions block{
      .attention = {.d_model = o.d_model, .heads = o.heads, .d_head = o.d_head, .scorer = scorer,
                    .causal = o.causal, .dropout = o.dropout, .kv_heads = o.kv_heads, .window = o.window,
                    .sink = o.sink, .normalizer = o.normalizer, .sigma_reparam = o.sigma_reparam},
      .d_ff = o.d_ff,
      .activation = o.activation,
      .dropout = o.dropout,
      .sigma_reparam = o.sigma_reparam};
  blocks_ = register_module("blocks", std::make_shared<ModuleList<EncoderBlock>>());
  for (int64_t i = 0; i < o.layers; ++i) blocks_->add(std::make_shared<EncoderBlock>(block, gen));
  final_norm_ = register_module("norm", std::make_shared<LayerNorm>(LayerNormOptions{.dim = o.d_model}));
  head_ = register_module("head", std::make_shared<Linear>(LinearOptions{.in_features = o.d_model, .out_features = o.num_classes}, gen));
}

SequenceModelOutput SequenceModel::forward(const Indices& tokens, const Tensor& key_padding) {
  if (!embedding_)
    throw std::invalid_argument("SequenceModel: built for continuous features [B, N, " +
                                std::to_string(options_.input_features) + "], got token ids");
  if (tokens.shape.size() != 2)
    throw std::invalid_argument("SequenceModel: token ids must be [B, N], got " + shape_str(tokens.shape));
  return run(embedding_->forward(tokens), key_padding);
}

SequenceModelOutput SequenceModel::forward(const Tensor& features, const Tensor& key_padding) {
  if (!input_projection_)
    throw std::invalid_argument("SequenceModel: built for token ids (vocab_size " +
                                std::to_string(options_.vocab_size) + "), got features " + shape_str(features.shape()));
  if (features.dim() != 3)
    throw std::invalid_argument("SequenceModel: features must be [B, N, F], got " + shape_str(features.shape()));
  return run(input_projection_->forward(features), key_padding);
}

SequenceModelOutput SequenceModel::run(const Tensor& embedded, const Tensor& key_padding) {
  SequenceModelOutput out;
  Tensor x = positional_->forward(embedded);
  const bool stats = options_.keep_attention_stats && !options_.keep_attention_weights;
  for (auto& block : *blocks_) {
    block->attention().set_row_stats(stats);
    AttentionResult r = block->forward(x, key_padding, options_.keep_attention_weights);
    x = r.output;
    if (options_.keep_attention_weights || stats) out.attention_weights.push_back(r.weights);
    if (stats) out.attention_row_stats.push_back(r.row_stats);
  }
  out.logits = head_->forward(final_norm_->forward(x));
  return out;
}

}  // namespace qkv
