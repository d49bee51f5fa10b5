#include "layers/embedding.h"

#include <stdexcept>
#include <string>

namespace qkv {

Embedding::Embedding(const EmbeddingOptions& options, Generator& gen) {
  if (options.num_embeddings <= 0 || options.dim <= 0)
    throw std::invalid_argument("Embedding: num_embeddings and dim must be positive, got " +
                                std::to_string(options.num_embeddings) + " and " + std::to_string(options.dim));
  table_ = register_parameter("weight", options.init.make({options.num_embeddings, options.dim}, gen));
}

Tensor Embedding::forward(const Indices& ids) { return embedding(table_, ids); }

}  // namespace qkv
