#include <catch2/catch.hpp>

#include <cmath>
#include <map>

#include "qkv.h"

using namespace qkv;

TEST_CASE("pixels: shapes do not overlap and carry the class of their own area", "[tasks][pixels]") {
  PixelsTask task({.seq_len = 64, .image_size = 16, .shapes = 4});
  Generator gen(8);
  std::map<int64_t, int64_t> shape_labels;
  for (int image_index = 0; image_index < 50; ++image_index) {
    const PixelImage image = task.draw_image(gen);
    REQUIRE(image.shape_of.size() == 256);
    CHECK(!image.shapes.empty());
    std::vector<int64_t> counted(image.shapes.size(), 0);
    for (int64_t owner : image.shape_of)
      if (owner >= 0) ++counted[static_cast<size_t>(owner)];
    for (size_t s = 0; s < image.shapes.size(); ++s) {
      const PixelShape& shape = image.shapes[s];
      CHECK(counted[s] == shape.area);  // every pixel belongs to one shape only
      // Classes by share of the 256 pixels: < 4% small, < 10% medium, else large.
      const int64_t expected = shape.area < 10.24 ? kSmall : shape.area < 25.6 ? kMedium : kLarge;
      CHECK(shape.label == expected);
      ++shape_labels[shape.label];
      const auto& c = shape.rgb;
      CHECK(std::hypot(c[0] - image.background[0], c[1] - image.background[1],
                       c[2] - image.background[2]) >= 0.35);
    }
  }
  // Each of the three shape classes is drawn often.
  for (int64_t label : {kSmall, kMedium, kLarge}) CHECK(shape_labels[label] > 25);
}

TEST_CASE("pixels: each token is its pixel's features, labelled by its shape", "[tasks][pixels]") {
  PixelsTask task({.seq_len = 40, .image_size = 12, .shapes = 3});
  Generator gen(21), replay(21);
  const Batch batch = task.sample(5, gen);
  REQUIRE(batch.features.shape() == Shape{5, 40, 6});
  CHECK(batch.tokens.values.empty());
  for (int64_t b = 0; b < 5; ++b) {
    // The batch draws the image first, so a replayed generator redraws the same image.
    const PixelImage image = task.draw_image(replay);
    std::vector<bool> seen(144, false);
    for (int64_t i = 0; i < 40; ++i) {
      const Scalar* f = batch.features.data() + (b * 40 + i) * 6;
      const int64_t x = std::lround(f[3] * 11), y = std::lround(f[4] * 11);
      const int64_t pixel = y * 12 + x;
      CHECK_FALSE(seen[static_cast<size_t>(pixel)]);  // drawn without replacement
      seen[static_cast<size_t>(pixel)] = true;
      const auto rgb = image.rgb_at(pixel);
      CHECK(f[0] == Approx(rgb[0]));
      CHECK(f[1] == Approx(rgb[1]));
      CHECK(f[2] == Approx(rgb[2]));
      CHECK(f[5] == Approx(0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]));
      const int64_t owner = image.shape_of[static_cast<size_t>(pixel)];
      const int64_t label = owner < 0 ? kBackground : image.shapes[static_cast<size_t>(owner)].label;
      CHECK(batch.targets.values[static_cast<size_t>(b * 40 + i)] == label);
    }
    // Skip the generator past the pixel order this sequence drew.
    for (int64_t i = 0; i < 40; ++i) replay.integer(i, 144);
  }
}

TEST_CASE("pixels: a uniform guess scores chance_accuracy", "[tasks][pixels]") {
  PixelsTask task({});
  CHECK(task.num_classes() == 4);
  CHECK(task.chance_accuracy() == 0.25);
  Generator gen(4), guess(5);
  const Batch batch = task.sample(200, gen);
  int64_t right = 0;
  for (int64_t t : batch.targets.values) right += guess.integer(0, 4) == t;
  CHECK(static_cast<double>(right) / static_cast<double>(batch.targets.values.size()) ==
        Approx(0.25).margin(0.01));
}
