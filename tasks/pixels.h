// Same-contour pixels, after the seed document's image example: each token is one pixel
// of a small synthetic image, the vector [R, G, B, x, y, brightness] (all in [0, 1]);
// the label is the area class of the shape the pixel belongs to. A pixel alone does not
// show how large its shape is, so the model must attend to the other pixels of the same
// colour (the same contour) and count them.
//
// An image: a background colour, then up to `shapes` non-overlapping rectangles and discs,
// each of a colour far from the background and from the other shapes. Classes:
//   0 background, 1 small (area < 4% of the image), 2 medium (< 10%), 3 large.
// Each shape first draws a target class uniformly, then a size in that class's range, so
// the three shape classes come out in similar numbers; the label is the class of the
// area actually drawn. Background pixels are the most frequent class. A sequence is
// seq_len distinct pixels of one image, in random order; each sequence has its own image.
#pragma once

#include <array>

#include "tasks/task.h"

namespace qkv {

struct PixelsOptions {
  int64_t seq_len = 64;
  int64_t image_size = 16;  // the image is image_size x image_size pixels
  int64_t shapes = 3;
};

enum PixelClass : int64_t { kBackground = 0, kSmall = 1, kMedium = 2, kLarge = 3 };

struct PixelShape {
  bool disc = false;
  int64_t area = 0;  // pixels it covers
  int64_t label = kBackground;
  std::array<double, 3> rgb{};
};

struct PixelImage {
  int64_t size = 0;
  std::array<double, 3> background{};
  std::vector<PixelShape> shapes;
  std::vector<int64_t> shape_of;  // per pixel, row-major (y * size + x); -1 = background

  int64_t label_at(int64_t pixel) const;
  std::array<double, 3> rgb_at(int64_t pixel) const;
};

class PixelsTask : public Task {
 public:
  explicit PixelsTask(PixelsOptions options);
  std::string name() const override { return "pixels"; }
  int64_t seq_len() const override { return options_.seq_len; }
  int64_t vocab_size() const override { return 0; }
  int64_t feature_dim() const override { return 6; }
  int64_t num_classes() const override { return 4; }
  double chance_accuracy() const override { return 0.25; }

  // The area class of a shape covering `area` pixels of this task's image.
  int64_t area_class(int64_t area) const;
  // One random image; sample() draws one per sequence.
  PixelImage draw_image(Generator& gen) const;
  // The features of one pixel: [R, G, B, x, y, brightness], x and y scaled to [0, 1].
  std::array<Scalar, 6> pixel_features(const PixelImage& image, int64_t pixel) const;

 protected:
  Batch generate(int64_t batch_size, Generator& gen) const override;

 private:
  PixelsOptions options_;
};

}  // namespace qkv
