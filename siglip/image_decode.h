// image_decode.h: image files decoded to 8-bit pixels as Pillow decodes them.
//
// JPEG (recognised by its first bytes FF D8 FF, whatever the file's name) is decoded by libjpeg-turbo through its
// TurboJPEG API with the settings Pillow's JpegDecode uses outside draft mode: the accurate integer IDCT (ISLOW) and
// fancy (smooth) chroma upsampling. Pillow bundles libjpeg-turbo too, so the pixels are the ones
// Image.open(f).convert("RGB") gives. Grey JPEGs decode to one band, replicated to RGB; CMYK and YCCK JPEGs are
// read as Pillow reads them (Adobe's inverted CMYK) and converted to RGB with Pillow's formula. A warning from
// libjpeg (a truncated file, corrupt entropy-coded data) is an error, as Pillow's "image file is truncated" is.
// Other formats (PNG, BMP, GIF, TGA, PSD, PNM, ...) are decoded by stb_image.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sg {

// An 8-bit image, interleaved: pixels[(y * width + x) * bands + b].
struct Image8 {
  int width = 0, height = 0, bands = 0;
  std::vector<uint8_t> pixels;
};

// Pillow's decompression-bomb limit (2 * Image.MAX_IMAGE_PIXELS): larger images are refused before decoding.
inline constexpr int64_t kMaxImagePixels = 2 * 89478485;

// A file that claims more pixels than it can hold is refused before decoding (a truncated file that stb_image would
// pad with zeros, or a decompression bomb): over kPlausiblePixels pixels, at most kMaxPixelsPerByte pixels per byte
// of the file, the most a PNG holds (a 1-bit image at deflate's best ratio, 1032:1). JPEG, TGA, PSD, HDR and BMP
// files hold far fewer; a GIF of a small frame on a canvas of millions of pixels is refused.
inline constexpr int64_t kPlausiblePixels = int64_t{1} << 20;
inline constexpr int64_t kMaxPixelsPerByte = 8256;

struct DecodeOptions {
  // Scaled JPEG decoding, for loaders that shrink big photos anyway: when min_width or min_height is > 0, a JPEG is
  // decoded at the smallest of libjpeg's scales 1/8, 1/4, 1/2, 1 whose output is still at least
  // min_width x min_height (full size when no smaller scale is). Other formats ignore it. The reduced IDCT is
  // close to, not equal to, a full decode followed by a downscale: SiglipImageProcessor's path never uses it.
  int min_width = 0, min_height = 0;
};

// Decodes an image file to 8 bits per band: 3 bands (RGB), or 4 (RGBA) when the file has transparency (an alpha
// channel, or a tRNS chunk). Grey files are replicated to RGB. Returns "" or why it failed (the caller names the
// file); never throws for a bad file. Besides stb_image's own checks, files that stb_image 2.27 would decode from
// memory it never filled are refused: a truncated PGM / PPM or uncompressed TGA, a palette BMP without all 2^bits
// palette entries; a 16-bit PGM / PPM keeps each sample's high byte.
std::string decode_image_file(const std::string& path, Image8& out, const DecodeOptions& options = {});

// The same for bytes in memory.
std::string decode_image_bytes(const uint8_t* data, size_t size, Image8& out, const DecodeOptions& options = {});

// Whether the bytes start as a JPEG file does (FF D8 FF).
bool is_jpeg(const uint8_t* data, size_t size);

// The denominator (1, 2, 4 or 8) of the scale DecodeOptions picks for a width x height JPEG, and the size it gives
// (ceil(width / d) x ceil(height / d), libjpeg's rounding).
struct JpegScale {
  int denominator = 1, width = 0, height = 0;
};
JpegScale jpeg_scale_for(int width, int height, const DecodeOptions& options);

}  // namespace sg
