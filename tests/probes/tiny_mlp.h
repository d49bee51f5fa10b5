// A tiny tanh MLP with dropout, test-local so that the optimiser and checkpoint tests do not
// depend on the layers library: y = dropout(tanh(x w1 + b1)) w2, trained on fixed synthetic
// data with mini-batches drawn from a Generator. Every step draws from the generator (batch
// rows and dropout masks), so a resumed run matches only if the generator state is restored.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

#include "qkv.h"

namespace qkv_test {

using namespace qkv;

class TinyMLP : public Module {
 public:
  TinyMLP() {
    Generator init(11);
    w1 = register_parameter("w1", Tensor::randn({4, 8}, init, 0, 0.5));
    b1 = register_parameter("b1", Tensor::zeros({8}));
    w2 = register_parameter("w2", Tensor::randn({8, 2}, init, 0, 0.5));
  }
  Tensor forward(const Tensor& x, Generator& gen) {
    Tensor h = dropout(tanh(add(matmul(x, w1), b1)), 0.25, gen, is_training());
    return matmul(h, w2);
  }
  Tensor w1, b1, w2;
};

struct Data {
  Tensor x, y;
  Data() {
    Generator gen(5);
    x = Tensor::randn({32, 4}, gen);
    y = Tensor::randn({32, 2}, gen);
  }
};

inline std::unique_ptr<Optimizer> make_optimizer(const std::string& kind, TinyMLP& model) {
  auto groups = weight_decay_groups(model, 0.05);
  if (kind == "sgd") return std::make_unique<SGD>(groups, SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  if (kind == "adam") return std::make_unique<Adam>(groups, AdamOptions{.lr = 0.01, .amsgrad = true});
  if (kind == "adamw") return std::make_unique<AdamW>(groups, AdamWOptions{.lr = 0.01});
  if (kind == "rmsprop")
    return std::make_unique<RMSprop>(groups, RMSpropOptions{.lr = 0.005, .momentum = 0.5, .centered = true});
  if (kind == "adagrad") return std::make_unique<Adagrad>(groups, AdagradOptions{.lr = 0.05, .lr_decay = 0.01});
  throw std::invalid_argument("unknown optimiser " + kind);
}

inline WarmupSchedule make_schedule_for_tests() {
  return WarmupSchedule(WarmupScheduleOptions{.warmup_steps = 3, .total_steps = 20, .min_lr = 1e-4});
}

// `count` training steps from `step` on: schedule, batch, forward, backward, clip, update.
inline void train_steps(TinyMLP& model, Optimizer& opt, const Schedule& schedule, Generator& gen, const Data& data,
                        int64_t& step, int64_t count) {
  for (int64_t i = 0; i < count; ++i, ++step) {
    schedule.apply(opt, step);
    std::vector<int64_t> rows;
    for (int r = 0; r < 8; ++r) rows.push_back(gen.integer(0, data.x.size(0)));
    const Indices batch = Indices::from(rows, {8});
    opt.zero_grad();
    Tensor loss = mse_loss(model.forward(embedding(data.x, batch), gen), embedding(data.y, batch));
    loss.backward();
    clip_grad_norm(model.parameters(), ClipGradNormOptions{.max_norm = 1.0});
    opt.step();
  }
}

}  // namespace qkv_test
