// Position information. The absolute kinds are added to the token vectors before the
// first block (PositionalEncoding):
//  - sinusoidal (Vaswani et al. 2017), fixed: PE[pos, 2i] = sin(pos / 10000^(2i/d)),
//    PE[pos, 2i+1] = cos(pos / 10000^(2i/d));
//  - learned: a table [max_len, d_model] ("table"), N(0, 0.02^2) at the start;
//  - none: the identity (self-attention then cannot tell positions apart).
// The relative kinds act on the scores inside every layer's scorer (ScorerOptions::position):
// rope rotates q and k (Su et al.), alibi adds a per-head distance penalty (Press et al.).
// A sequence longer than max_len is an error.
#pragma once

#include "core/generator.h"
#include "core/named_enum.h"
#include "layers/init.h"
#include "layers/module.h"

namespace qkv {

enum class PositionKind { none, sinusoidal, learned, rope, alibi };
template <>
struct EnumNames<PositionKind> {
  static constexpr std::array<std::pair<PositionKind, std::string_view>, 5> table{
      {{PositionKind::none, "none"},
       {PositionKind::sinusoidal, "sinusoidal"},
       {PositionKind::learned, "learned"},
       {PositionKind::rope, "rope"},
       {PositionKind::alibi, "alibi"}}};
};
// rope and alibi live in the scorer: a PositionalEncoding of either kind is the identity.
inline bool acts_on_scores(PositionKind kind) { return kind == PositionKind::rope || kind == PositionKind::alibi; }

struct PositionalOptions {
  PositionKind kind = PositionKind::sinusoidal;
  int64_t max_len = 0;
  int64_t d_model = 0;
  Init learned_init = Init::normal(Scalar(0.02));
};

// The fixed table [length, d_model].
Tensor sinusoidal_encoding(int64_t length, int64_t d_model);

class PositionalEncoding : public UnaryModule {
 public:
  PositionalEncoding(const PositionalOptions& options, Generator& gen);
  Tensor forward(const Tensor& x) override;  // [B, N, d_model] -> x + PE[:N]
  Tensor encoding(int64_t length) const;     // PE[:length]; undefined for none, rope, alibi
  PositionKind kind() const { return options_.kind; }

 private:
  PositionalOptions options_;
  Tensor table_;  // [max_len, d_model]: the fixed or the learned encodings
};

}  // namespace qkv
