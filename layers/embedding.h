// Embedding: a learned table [num_embeddings, dim]; token ids [..] -> vectors [.., dim].
#pragma once

#include "core/generator.h"
#include "core/ops.h"
#include "layers/init.h"
#include "layers/module.h"

namespace qkv {

struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t dim = 0;
  Init init = Init::normal(1);  // N(0, 1), as PyTorch's nn.Embedding
};

class Embedding : public Module {
 public:
  Embedding(const EmbeddingOptions& options, Generator& gen);
  Tensor forward(const Indices& ids);  // out-of-range ids throw std::out_of_range
  const Tensor& table() const { return table_; }

 private:
  Tensor table_;
};

}  // namespace qkv
