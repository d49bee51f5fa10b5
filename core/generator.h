// Generator: the seeded random source behind every random draw in qkv. xoshiro256**
// with our own uniform and normal transforms, so the numbers are the same on every
// platform and standard library (std::normal_distribution is not), and the state can be
// saved in a checkpoint and restored exactly.
#pragma once

#include <array>
#include <cstdint>

namespace qkv {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0);
  void seed(uint64_t seed);

  uint64_t next_u64();
  double uniform();                           // [0, 1)
  double normal();                            // N(0, 1), Box-Muller
  int64_t integer(int64_t low, int64_t high);  // uniform in [low, high)

  using State = std::array<uint64_t, 4>;
  State state() const { return state_; }
  void set_state(const State& state);

 private:
  State state_{};
};

}  // namespace qkv
