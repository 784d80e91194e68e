// image_processor.h: images prepared for the vision tower as transformers' SiglipImageProcessor (the PIL backend,
// SiglipImageProcessorPil in transformers 5.24) prepares them, configured by a preprocessor_config.json.
//
//   file -> decode (image_decode.h: JPEG by libjpeg-turbo with Pillow's settings, other formats by stb_image) -> RGB
//   (alpha composited onto white, grey replicated, CMYK converted as Pillow does) -> resize to size.height x
//   size.width (Pillow's ImagingResample: separable, horizontal pass then vertical pass, 8-bit fixed-point
//   coefficients, the intermediate image rounded and clipped to uint8) -> [1-channel models: ITU-R 601 luma,
//   rounded] -> rescale (x * rescale_factor, in double, then float32) -> normalize ((x - mean) / std, float32)
//   -> [C, H, W] float32, channels first.
//
// PNG (RGB, grey, RGBA) and JPEG (RGB, grey, CMYK; baseline and progressive; chroma 4:2:0, 4:2:2 and 4:4:4) give
// the values transformers gives, exactly: scripts/preprocess_parity.py measures a mean and max difference of 0 on
// every image and filter, and decoded JPEG levels equal to Pillow's.
//
// EXIF orientation is not applied (transformers' processor does not apply it either; its load_image helper does).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "siglip/augment.h"
#include "siglip/image_decode.h"

namespace sg {

// PILImageResampling values as preprocessor_config.json writes them. Nearest (0) is not supported.
enum class Resample : int { Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

// What the model sees: [channels, height, width], float32.
struct PixelValues {
  int channels = 0, height = 0, width = 0;
  std::vector<float> data;
};

struct ImageProcessor {
  bool do_resize = true;
  int64_t height = 224, width = 224;  // size {"height", "width"}
  Resample resample = Resample::Bicubic;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::vector<double> image_mean{0.5, 0.5, 0.5}, image_std{0.5, 0.5, 0.5};  // one per RGB channel
  bool do_convert_rgb = true;  // false: alpha is dropped instead of composited onto white

  // What our models are trained with and what a checkpoint without preprocessor_config.json uses: bicubic to
  // image_size x image_size, rescale 1/255, mean = std = 0.5 (pixels in [-1, 1]).
  static ImageProcessor siglip_default(int64_t image_size);

  // preprocessor_config.json. Missing fields (and null ones) take SiglipImageProcessor's defaults (size 224x224).
  // Errors name the file and the field: a wrong type, a size that is not {"height", "width"}, an image_mean or
  // image_std that is not a number or 3 numbers, a std of 0, an unsupported resample value, an
  // image_processor_type that is not a SigLIP one, do_center_crop or do_pad true.
  static ImageProcessor from_json(const std::string& path);
  static ImageProcessor from_json_value(const nlohmann::json& j, const std::string& source);
  // The form transformers' save_pretrained writes (image_processor_type "SiglipImageProcessor").
  nlohmann::json to_json() const;

  // Makes the processor fit a model taking image_size x image_size images with `channels` (1 or 3) channels:
  // a resize to another size is changed to the model's size (the position embeddings fix the patch grid). Returns
  // what was changed ("" when nothing), e.g. "DIR/preprocessor_config.json resizes to 384x384 (height x width)
  // but the model takes 224x224 images: they are resized to 224x224". Checks the channels (check_channels).
  std::string fit_to_model(int64_t image_size, int64_t channels, const std::string& source);
  // A grey model (1 channel) needs one mean and one std (a number, or three equal values): otherwise sg::Error
  // naming `source` and the field.
  void check_channels(int64_t channels, const std::string& source) const;

  // An RGB (3 bands) or RGBA / grey+alpha image (4 bands) to pixel values with `channels` (1: luma, 3: RGB):
  // to_pixels(prepare8(image, channels)).
  PixelValues process(const Image8& image, int channels) const;
  // The 8-bit half of process: [the `crop` box cut out] -> RGB -> resize -> [luma]; `channels` bands (1 or 3).
  // With a crop the box is always resized to height x width (even without do_resize).
  Image8 prepare8(const Image8& image, int channels, const CropBox* crop = nullptr) const;
  // The float half: rescale and normalise a prepare8 result into out[channels * height * width], channels first.
  void to_pixels(const Image8& prepared, float* out) const;
  // Decodes `path` at full size (decode_image_file: JPEG as Pillow decodes it, PNG, BMP, GIF, ... by stb_image) and
  // processes it; sg::Error naming the file and why it could not be decoded.
  PixelValues load(const std::string& path, int channels) const;

  // "bicubic resize to 224x224, rescale 1/255, normalize mean [0.5, 0.5, 0.5] std [0.5, 0.5, 0.5]"
  std::string describe() const;
};

// RGBA composited onto an opaque white background, as transformers' convert_to_rgb does with
// PIL.Image.alpha_composite (Pillow's integer formula, exactly). Drops alpha.
Image8 composite_on_white(const Image8& rgba);

// Pillow's Image.resize(size, resample) of an 8-bit image with any number of bands (ImagingResample, exactly).
Image8 resize_like_pillow(const Image8& image, int out_width, int out_height, Resample resample);

// The name of a resample value ("bicubic"), or "" when not supported.
std::string resample_name(int value);

}  // namespace sg
