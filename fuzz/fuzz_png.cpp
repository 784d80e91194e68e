// fuzz_png: one input = the bytes of an image file that is not a JPEG (PNG, and the other formats stb_image reads:
// BMP, GIF, TGA, PSD, PNM, HDR, PIC), decoded by decode_image_bytes (siglip/image_decode.h) as the caption-file and
// shard loaders decode them. Inputs that start FF D8 FF are fuzz_jpeg's and are skipped. A bad file must give an
// error message, never a crash. A decoded image must be RGB or RGBA with width * height * bands bytes, within
// Pillow's pixel limit, and decode_image_memory (the shard loader's entry) must give the same pixels (checked up to 65536 pixels).
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "siglip/image_decode.h"
#include "siglip/webdataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (sg::is_jpeg(data, size)) return 0;
  sg::Image8 im;
  if (!sg::decode_image_bytes(data, size, im).empty()) return 0;
  if (im.width <= 0 || im.height <= 0) sg::fuzz::property_failed("a decoded image has no pixels");
  if (int64_t{im.width} * im.height > sg::kMaxImagePixels) sg::fuzz::property_failed("a decoded image is over the limit");
  if (im.bands != 3 && im.bands != 4) sg::fuzz::property_failed("a decoded image is neither RGB nor RGBA");
  if (im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.bands)
    sg::fuzz::property_failed("pixels.size() != width * height * bands");
  if (int64_t{im.width} * im.height > 1 << 16) return 0;  // large images are decoded once (time)
  sg::Image8 again;
  const std::string why = sg::decode_image_memory(std::vector<uint8_t>(data, data + size), again);
  if (!why.empty() || again.width != im.width || again.height != im.height || again.bands != im.bands ||
      again.pixels != im.pixels)
    sg::fuzz::property_failed("decode_image_memory does not decode as decode_image_bytes");
  return 0;
}
