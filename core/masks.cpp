#include "core/masks.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace qkv {

MaskMod::Block MaskMod::classify(int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) const { return Block::mixed; }

void MaskMod::check_size(int64_t, int64_t, int64_t, int64_t) const {}

void MaskMod::fill_visible(int64_t batch, int64_t head, int64_t q0, int64_t rows, int64_t k0, int64_t cols,
                           Scalar* keep, int64_t ld) const {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) keep[r * ld + c] = visible(batch, head, q0 + r, k0 + c) ? 1 : 0;
}

namespace {
using Block = MaskMod::Block;

// Visible when j lies in [i - back, i + ahead]: causal is (inf, 0), a window (w - 1, w - 1)
// or (w - 1, 0). Over a block the extreme offsets i - j decide at once.
class BandMask : public MaskMod {
 public:
  BandMask(int64_t back, int64_t ahead) : back_(back), ahead_(ahead) {}
  bool visible(int64_t, int64_t, int64_t i, int64_t j) const override { return j <= i + ahead_ && i - j <= back_; }
  bool reads_batch_or_head() const override { return false; }
  Block classify(int64_t, int64_t, int64_t q0, int64_t q1, int64_t k0, int64_t k1) const override {
    const int64_t nearest = q0 - (k1 - 1), farthest = (q1 - 1) - k0;  // smallest and largest i - j
    if (-nearest <= ahead_ && farthest <= back_) return Block::visible;
    if (-(q1 - 1 - k0) > ahead_ || q0 - (k1 - 1) > back_) return Block::hidden;
    return Block::mixed;
  }
  void fill_visible(int64_t, int64_t, int64_t q0, int64_t rows, int64_t k0, int64_t cols, Scalar* keep,
                    int64_t ld) const override {
    for (int64_t r = 0; r < rows; ++r) {
      // Row i sees the keys [i - back, i + ahead], clipped to the block.
      const int64_t i = q0 + r;
      const int64_t first = std::clamp(i - back_ - k0, int64_t{0}, cols);
      const int64_t last = std::clamp(i + ahead_ + 1 - k0, first, cols);
      std::fill(keep + r * ld, keep + r * ld + first, Scalar(0));
      std::fill(keep + r * ld + first, keep + r * ld + last, Scalar(1));
      std::fill(keep + r * ld + last, keep + r * ld + cols, Scalar(0));
    }
  }

 private:
  int64_t back_, ahead_;
};

class KeyPaddingMask : public MaskMod {
 public:
  explicit KeyPaddingMask(const Tensor& padding) : batch_(padding.size(0)), keys_(padding.size(1)) {
    hidden_.resize(static_cast<size_t>(padding.numel()));
    count_.assign(static_cast<size_t>(padding.size(0) * (keys_ + 1)), 0);
    for (int64_t b = 0; b < padding.size(0); ++b)
      for (int64_t j = 0; j < keys_; ++j) {
        hidden_[b * keys_ + j] = padding.data()[b * keys_ + j] != 0;
        count_[b * (keys_ + 1) + j + 1] = count_[b * (keys_ + 1) + j] + hidden_[b * keys_ + j];
      }
  }
  bool visible(int64_t b, int64_t, int64_t, int64_t j) const override { return !hidden_[b * keys_ + j]; }
  Block classify(int64_t b, int64_t, int64_t, int64_t, int64_t k0, int64_t k1) const override {
    const int64_t padded = count_[b * (keys_ + 1) + k1] - count_[b * (keys_ + 1) + k0];
    return padded == 0 ? Block::visible : padded == k1 - k0 ? Block::hidden : Block::mixed;
  }
  void check_size(int64_t batch, int64_t, int64_t, int64_t key_length) const override {
    if (batch != batch_ || key_length != keys_)
      throw std::invalid_argument("key_padding_mask: the padding is [" + std::to_string(batch_) + ", " +
                                  std::to_string(keys_) + "], the attention has batch " + std::to_string(batch) +
                                  " and " + std::to_string(key_length) + " keys");
  }

 private:
  int64_t batch_, keys_;
  std::vector<char> hidden_;
  std::vector<int64_t> count_;  // padded keys before j, per batch row: a block's count is a difference
};

class PrefixMask : public MaskMod {
 public:
  explicit PrefixMask(int64_t prefix) : prefix_(prefix) {}
  bool visible(int64_t, int64_t, int64_t i, int64_t j) const override { return j < prefix_ || j <= i; }
  bool reads_batch_or_head() const override { return false; }
  Block classify(int64_t, int64_t, int64_t q0, int64_t q1, int64_t k0, int64_t k1) const override {
    if (k1 <= prefix_ || k1 - 1 <= q0) return Block::visible;
    if (k0 >= prefix_ && k0 > q1 - 1) return Block::hidden;
    return Block::mixed;
  }

 private:
  int64_t prefix_;
};

class DocumentMask : public MaskMod {
 public:
  DocumentMask(std::vector<int64_t> document, bool causal)
      : document_(std::move(document)), causal_(causal), sorted_(std::is_sorted(document_.begin(), document_.end())) {}
  bool visible(int64_t, int64_t, int64_t i, int64_t j) const override {
    if (i >= length() || j >= length())
      throw std::out_of_range("document_mask: position " + std::to_string(std::max(i, j)) + " beyond the " +
                              std::to_string(length()) + " document ids it was given");
    return document_[i] == document_[j] && (!causal_ || j <= i);
  }
  bool reads_batch_or_head() const override { return false; }
  // Documents packed one after another have ids that never decrease: a run of positions
  // then holds the ids between its first and its last, and two runs share a document
  // exactly when those ranges meet. Ids in any other order leave every block mixed.
  Block classify(int64_t b, int64_t h, int64_t q0, int64_t q1, int64_t k0, int64_t k1) const override {
    if (!sorted_ || q1 <= q0 || k1 <= k0 || std::max(q1, k1) > length()) return MaskMod::classify(b, h, q0, q1, k0, k1);
    const int64_t q_first = document_[q0], q_last = document_[q1 - 1];
    const int64_t k_first = document_[k0], k_last = document_[k1 - 1];
    if (q_last < k_first || k_last < q_first || (causal_ && k0 > q1 - 1)) return Block::hidden;
    if (q_first == q_last && k_first == k_last && q_first == k_first && (!causal_ || k1 - 1 <= q0))
      return Block::visible;
    return Block::mixed;
  }
  void check_size(int64_t, int64_t, int64_t query_length, int64_t key_length) const override {
    if (std::max(query_length, key_length) > length())
      throw std::invalid_argument("document_mask: " + std::to_string(length()) + " document ids, the attention has " +
                                  std::to_string(query_length) + " queries and " + std::to_string(key_length) +
                                  " keys");
  }

 private:
  int64_t length() const { return static_cast<int64_t>(document_.size()); }
  std::vector<int64_t> document_;
  bool causal_, sorted_;
};

class MaskUnion : public MaskMod {
 public:
  explicit MaskUnion(std::vector<std::shared_ptr<const MaskMod>> masks) : masks_(std::move(masks)) {}
  bool visible(int64_t b, int64_t h, int64_t i, int64_t j) const override {
    for (const auto& m : masks_)
      if (!m->visible(b, h, i, j)) return false;
    return true;
  }
  bool reads_batch_or_head() const override {
    return std::any_of(masks_.begin(), masks_.end(), [](const auto& m) { return m->reads_batch_or_head(); });
  }
  void check_size(int64_t batch, int64_t heads, int64_t query_length, int64_t key_length) const override {
    for (const auto& m : masks_) m->check_size(batch, heads, query_length, key_length);
  }
  Block classify(int64_t b, int64_t h, int64_t q0, int64_t q1, int64_t k0, int64_t k1) const override {
    Block out = Block::visible;
    for (const auto& m : masks_) {
      const Block c = m->classify(b, h, q0, q1, k0, k1);
      if (c == Block::hidden) return Block::hidden;
      if (c == Block::mixed) out = Block::mixed;
    }
    return out;
  }
  void fill_visible(int64_t b, int64_t h, int64_t q0, int64_t rows, int64_t k0, int64_t cols, Scalar* keep,
                    int64_t ld) const override {
    masks_.front()->fill_visible(b, h, q0, rows, k0, cols, keep, ld);
    // Scratch of this call's own: a union inside this one fills its masks into its own
    // (a buffer shared by every call of the thread was the inner union's output and its
    // scratch at once, and lost its first mask).
    std::vector<Scalar> other(static_cast<size_t>(rows * cols));
    for (size_t m = 1; m < masks_.size(); ++m) {
      masks_[m]->fill_visible(b, h, q0, rows, k0, cols, other.data(), cols);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) keep[r * ld + c] *= other[r * cols + c];
    }
  }

 private:
  std::vector<std::shared_ptr<const MaskMod>> masks_;
};

constexpr int64_t kUnbounded = int64_t{1} << 60;
}  // namespace

std::shared_ptr<const MaskMod> causal_mask() { return std::make_shared<BandMask>(kUnbounded, 0); }

std::shared_ptr<const MaskMod> sliding_window_mask(int64_t window, bool causal) {
  if (window < 1) throw std::invalid_argument("sliding_window_mask: window must be >= 1, got " + std::to_string(window));
  return std::make_shared<BandMask>(window - 1, causal ? 0 : window - 1);
}

std::shared_ptr<const MaskMod> key_padding_mask(const Tensor& padding) {
  if (padding.dim() != 2)
    throw std::invalid_argument("key_padding_mask: padding must be [B, Nk], got " + shape_str(padding.shape()));
  return std::make_shared<KeyPaddingMask>(padding);
}

std::shared_ptr<const MaskMod> prefix_mask(int64_t prefix) {
  if (prefix < 0) throw std::invalid_argument("prefix_mask: prefix must be >= 0, got " + std::to_string(prefix));
  return std::make_shared<PrefixMask>(prefix);
}

std::shared_ptr<const MaskMod> document_mask(std::vector<int64_t> document, bool causal) {
  return std::make_shared<DocumentMask>(std::move(document), causal);
}

std::shared_ptr<const MaskMod> mask_union(const std::vector<std::shared_ptr<const MaskMod>>& masks) {
  std::vector<std::shared_ptr<const MaskMod>> present;
  for (const auto& m : masks)
    if (m) present.push_back(m);
  if (present.empty()) return nullptr;
  if (present.size() == 1) return present.front();
  return std::make_shared<MaskUnion>(std::move(present));
}

Tensor mask_tensor(const MaskMod& mask, int64_t batch, int64_t heads, int64_t query_length, int64_t key_length) {
  mask.check_size(batch, heads, query_length, key_length);
  Tensor out = Tensor::empty({batch, heads, query_length, key_length});
  Scalar* m = out.data();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < query_length; ++i)
        for (int64_t j = 0; j < key_length; ++j) *m++ = mask.visible(b, h, i, j) ? 0 : 1;
  return out;
}

}  // namespace qkv
