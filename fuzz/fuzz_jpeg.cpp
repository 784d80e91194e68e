// fuzz_jpeg: one input = the bytes of a JPEG file, decoded by decode_image_bytes (siglip/image_decode.h: TurboJPEG
// with Pillow's settings) at full size, then with DecodeOptions asking for a scaled decode (1/2, 1/4 or 1/8, chosen
// by the input's size). Inputs that do not start FF D8 FF go to stb_image (fuzz_png's reader) and are skipped.
// A bad file must give an error message, never a crash. A decoded image must be RGB with width * height * 3 bytes
// within Pillow's pixel limit, and the scaled decode of a file decoded at full size must succeed with the size
// jpeg_scale_for gives, at scale 1/d or coarser.
#include <string>

#include "fuzz/fuzz_util.h"
#include "siglip/image_decode.h"

namespace {

void check_image(const sg::Image8& im, const char* which) {
  const std::string what = which;
  if (im.width <= 0 || im.height <= 0) sg::fuzz::property_failed(what + ": a decoded image has no pixels");
  if (int64_t{im.width} * im.height > sg::kMaxImagePixels)
    sg::fuzz::property_failed(what + ": a decoded image is over the pixel limit");
  if (im.bands != 3) sg::fuzz::property_failed(what + ": a decoded JPEG is not RGB");
  if (im.pixels.size() != static_cast<size_t>(im.width) * im.height * 3)
    sg::fuzz::property_failed(what + ": pixels.size() != width * height * bands");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!sg::is_jpeg(data, size)) return 0;
  sg::Image8 full;
  const std::string full_error = sg::decode_image_bytes(data, size, full);
  if (full_error.empty()) check_image(full, "full size");

  // Ask for the size that scale 1/d gives (d = 2, 4 or 8): jpeg_scale_for picks 1/d, or a coarser scale that gives
  // the same size (a tiny image); with an unknown size (the full decode failed), a fixed minimum.
  const int d = 2 << (size % 3);
  sg::DecodeOptions options;
  options.min_width = full_error.empty() ? (full.width + d - 1) / d : 16;
  options.min_height = full_error.empty() ? (full.height + d - 1) / d : 16;
  sg::Image8 scaled;
  const std::string scaled_error = sg::decode_image_bytes(data, size, scaled, options);
  if (!full_error.empty()) {
    if (scaled_error.empty()) check_image(scaled, "scaled");
    return 0;
  }
  if (!scaled_error.empty()) sg::fuzz::property_failed("a JPEG decoded at full size fails scaled: " + scaled_error);
  check_image(scaled, "scaled");
  const sg::JpegScale expected = sg::jpeg_scale_for(full.width, full.height, options);
  if (expected.denominator < d) sg::fuzz::property_failed("jpeg_scale_for picked a finer scale than the one asked for");
  if (scaled.width != expected.width || scaled.height != expected.height)
    sg::fuzz::property_failed("the scaled decode's size is not jpeg_scale_for's");
  return 0;
}
