#include "tasks/pixels.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>
#include <string>

#include "core/generator.h"

namespace qkv {
namespace {
constexpr double kSmallFraction = 0.04;   // area below this share of the image: small
constexpr double kMediumFraction = 0.10;  // below this: medium; otherwise large
constexpr double kLargestFraction = 0.20;
constexpr double kMinColourDistance = 0.35;  // Euclidean, in RGB in [0, 1]
constexpr int kPlacementTries = 30;
constexpr int kColourTries = 100;

double colour_distance(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

std::array<double, 3> random_colour(Generator& gen) {
  return {gen.uniform(), gen.uniform(), gen.uniform()};
}
}  // namespace

int64_t PixelImage::label_at(int64_t pixel) const {
  const int64_t s = shape_of[static_cast<size_t>(pixel)];
  return s < 0 ? kBackground : shapes[static_cast<size_t>(s)].label;
}

std::array<double, 3> PixelImage::rgb_at(int64_t pixel) const {
  const int64_t s = shape_of[static_cast<size_t>(pixel)];
  return s < 0 ? background : shapes[static_cast<size_t>(s)].rgb;
}

PixelsTask::PixelsTask(PixelsOptions options) : options_(options) {
  if (options_.image_size < 8 || options_.image_size > 256)
    throw TaskOptionError("pixels", "image_size", "in [8, 256]",
                          std::to_string(options_.image_size));
  if (options_.shapes < 1 || options_.shapes > 8)
    throw TaskOptionError("pixels", "shapes", "in [1, 8]", std::to_string(options_.shapes));
  const int64_t pixels = options_.image_size * options_.image_size;
  if (options_.seq_len < 1 || options_.seq_len > pixels)
    throw TaskOptionError("pixels", "seq_len",
                          "in [1, image_size^2] = [1, " + std::to_string(pixels) +
                              "] (pixels are drawn without replacement)",
                          std::to_string(options_.seq_len));
}

int64_t PixelsTask::area_class(int64_t area) const {
  const double share = static_cast<double>(area) /
                       static_cast<double>(options_.image_size * options_.image_size);
  if (share < kSmallFraction) return kSmall;
  if (share < kMediumFraction) return kMedium;
  return kLarge;
}

PixelImage PixelsTask::draw_image(Generator& gen) const {
  const int64_t size = options_.image_size;
  const double total = static_cast<double>(size * size);
  PixelImage image{.size = size,
                   .background = random_colour(gen),
                   .shapes = {},
                   .shape_of = std::vector<int64_t>(static_cast<size_t>(size * size), -1)};
  const double bounds[4] = {2.0, kSmallFraction * total, kMediumFraction * total,
                            kLargestFraction * total};
  std::vector<int64_t> covered;
  for (int64_t s = 0; s < options_.shapes; ++s) {
    for (int attempt = 0; attempt < kPlacementTries; ++attempt) {
      const int64_t wanted = gen.integer(1, 4);
      const double area = bounds[wanted - 1] + gen.uniform() * (bounds[wanted] - bounds[wanted - 1]);
      const bool disc = gen.uniform() < 0.5;
      covered.clear();
      if (disc) {
        const double r = std::sqrt(area / std::numbers::pi);
        const double cx = r + gen.uniform() * (static_cast<double>(size) - 2 * r);
        const double cy = r + gen.uniform() * (static_cast<double>(size) - 2 * r);
        for (int64_t y = 0; y < size; ++y)
          for (int64_t x = 0; x < size; ++x) {
            const double dx = static_cast<double>(x) + 0.5 - cx, dy = static_cast<double>(y) + 0.5 - cy;
            if (dx * dx + dy * dy <= r * r) covered.push_back(y * size + x);
          }
      } else {
        const double aspect = 0.5 + 1.5 * gen.uniform();
        const int64_t w = std::clamp<int64_t>(std::llround(std::sqrt(area * aspect)), 1, size);
        const int64_t h = std::clamp<int64_t>(std::llround(area / static_cast<double>(w)), 1, size);
        const int64_t x0 = gen.integer(0, size - w + 1), y0 = gen.integer(0, size - h + 1);
        for (int64_t y = y0; y < y0 + h; ++y)
          for (int64_t x = x0; x < x0 + w; ++x) covered.push_back(y * size + x);
      }
      const bool overlaps = std::any_of(covered.begin(), covered.end(), [&](int64_t p) {
        return image.shape_of[static_cast<size_t>(p)] >= 0;
      });
      if (covered.size() < 2 || overlaps) continue;
      PixelShape shape{.disc = disc,
                       .area = static_cast<int64_t>(covered.size()),
                       .label = area_class(static_cast<int64_t>(covered.size())),
                       .rgb = random_colour(gen)};
      // Redraw colours too close to one already used, so each contour is visible.
      for (int c = 0; c < kColourTries; ++c) {
        bool distinct = colour_distance(shape.rgb, image.background) >= kMinColourDistance;
        for (const PixelShape& other : image.shapes)
          distinct = distinct && colour_distance(shape.rgb, other.rgb) >= kMinColourDistance;
        if (distinct) break;
        shape.rgb = random_colour(gen);
      }
      for (int64_t p : covered) image.shape_of[static_cast<size_t>(p)] = static_cast<int64_t>(image.shapes.size());
      image.shapes.push_back(shape);
      break;
    }
  }
  return image;
}

std::array<Scalar, 6> PixelsTask::pixel_features(const PixelImage& image, int64_t pixel) const {
  const auto rgb = image.rgb_at(pixel);
  const double last = static_cast<double>(image.size - 1);
  const double brightness = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];  // Rec. 601 luma
  return {static_cast<Scalar>(rgb[0]), static_cast<Scalar>(rgb[1]), static_cast<Scalar>(rgb[2]),
          static_cast<Scalar>(static_cast<double>(pixel % image.size) / last),
          static_cast<Scalar>(static_cast<double>(pixel / image.size) / last),
          static_cast<Scalar>(brightness)};
}

Batch PixelsTask::generate(int64_t batch_size, Generator& gen) const {
  const int64_t n = options_.seq_len, pixels = options_.image_size * options_.image_size;
  Tensor features = Tensor::empty({batch_size, n, 6});
  std::vector<int64_t> targets(static_cast<size_t>(batch_size * n));
  std::vector<int64_t> order(static_cast<size_t>(pixels));
  for (int64_t b = 0; b < batch_size; ++b) {
    const PixelImage image = draw_image(gen);
    // A partial Fisher-Yates shuffle picks n distinct pixels in random order.
    std::iota(order.begin(), order.end(), int64_t{0});
    for (int64_t i = 0; i < n; ++i)
      std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(gen.integer(i, pixels))]);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t pixel = order[static_cast<size_t>(i)];
      const auto f = pixel_features(image, pixel);
      std::copy(f.begin(), f.end(), features.data() + (b * n + i) * 6);
      targets[static_cast<size_t>(b * n + i)] = image.label_at(pixel);
    }
  }
  return Batch{.tokens = {},
               .features = features,
               .targets = Indices::from(std::move(targets), {batch_size, n})};
}

}  // namespace qkv
