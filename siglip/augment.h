// augment.h: training-time augmentation: the random resized crop (`siglip train --augment crop`).
//
// The crop is big_vision's inception_crop: a box of area fraction uniform in [area_min, area_max] of the image and
// aspect ratio (width / height) log-uniform in [3/4, 4/3] (TF's sample_distorted_bounding_box ranges), placed
// uniformly where it fits; after 10 tries that do not fit, the whole image (as TF falls back). The box is then
// resized to the model's size by the caller: the streaming loaders crop the decoded 8-bit image before the
// preprocessor's resize (ImageProcessor::prepare8), the in-memory sets crop their stored float image and resize it
// back bilinearly (crop_resize_chw).
//
// Each sample's box is drawn from its own generator, seeded by (seed, epoch, position of the sample in the epoch's
// stream): the same for any number of workers, and the same again in a resumed run. Evaluation never augments.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "siglip/image_decode.h"

namespace sg {

// A box inside an image, in pixels: columns [x, x + width), rows [y, y + height).
struct CropBox {
  int x = 0, y = 0, width = 0, height = 0;
  bool operator==(const CropBox&) const = default;
};

struct CropAugment {
  bool enabled = false;  // false: images are used whole (the paper's setting)
  double area_min = 0.05, area_max = 1.0;  // big_vision's inception_crop area_min=5, area_max=100 (percent)
};

// "MIN,MAX" of --crop-scale (0 < MIN <= MAX <= 1); sg::Error naming --crop-scale and the value otherwise.
std::pair<double, double> parse_crop_scale(const std::string& text);

// The generator seed of the sample at `position` of epoch `epoch`'s stream.
uint64_t crop_seed(uint64_t seed, uint64_t epoch, uint64_t position);

// The box for a width x height image, drawn from `sample_seed` (crop_seed) as described above.
CropBox sample_crop(int width, int height, double area_min, double area_max, uint64_t sample_seed);

// The pixels of `box` (which must lie inside the image), any number of bands.
Image8 crop_image8(const Image8& image, const CropBox& box);

// chw: [channels, height, width] float; returns the box's pixels resized back to [channels, height, width] by
// bilinear interpolation (pixel centres at +0.5, edges clamped).
std::vector<float> crop_resize_chw(const std::vector<float>& chw, int channels, int height, int width,
                                   const CropBox& box);

}  // namespace sg
