// A user's program against the installed float library: a scorer of its own with a
// setting, registered, then trained, resumed and evaluated through run_train_cli, and run
// through qkv's experiments (`consumer_scorer_cli experiment NAME CONFIG ...`) through
// run_experiment_cli.
// Only <qkv/...> headers are reachable: the library's generic names are not.
#include <qkv/cli.h>
#include <qkv/layers/scorer.h>
#include <qkv/qkv.h>

#if __has_include(<core/tensor.h>)
#error "the installed package must not put core/tensor.h on a consumer's include path"
#endif

#include <cmath>
#include <string>

namespace {
// q.k * gain / sqrt(d), the gain a setting of the config.
class GainScorer : public qkv::Scorer {
 public:
  explicit GainScorer(double gain) : gain_(gain) {}
  qkv::Tensor scores(const qkv::Tensor& q, const qkv::Tensor& k) override {
    return qkv::mul(qkv::matmul(q, k, {.transpose_b = true}), qkv::Scalar(gain_ / std::sqrt(double(q.size(-1)))));
  }

 private:
  double gain_;
};
}  // namespace

int main(int argc, char** argv) {
  qkv::register_scorer(
      "gain_dot",
      [](const qkv::ScorerOptions& o, qkv::Generator&) {
        return std::make_shared<GainScorer>(o.settings.at("gain").get<double>());
      },
      {{.name = "gain", .type = qkv::ScorerSetting::Type::number, .default_value = 1, .min = 0, .max = 10,
        .doc = "Multiplier of the scaled dot product."}});
  if (argc > 2 && std::string(argv[1]) == "experiment") return qkv::run_experiment_cli(argv[2], argc - 2, argv + 2);
  return qkv::run_train_cli(argc, argv, "consumer_scorer_cli: the gain_dot scorer");
}
