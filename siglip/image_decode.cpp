// image_decode.cpp: JPEG through TurboJPEG (Pillow's decoder settings), everything else through stb_image
// (see image_decode.h).
#include "siglip/image_decode.h"

#include <stb/stb_image.h>
#include <turbojpeg.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string_view>

#include <fmt/format.h>

namespace sg {
namespace {

// Pillow's JpegDecode outside draft mode: libjpeg's defaults, i.e. the accurate integer IDCT (JDCT_ISLOW) and
// fancy upsampling. Any libjpeg warning stops the decode (it becomes an error), and a progressive file may have at
// most 500 scans (real files have about 10; more is a decode-time bomb).
constexpr int kJpegFlags = TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;

struct TjDestroy {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using TjHandle = std::unique_ptr<void, TjDestroy>;

std::string too_large(int64_t width, int64_t height) {
  return fmt::format("the image is {}x{} (width x height), {} pixels: more than {}, Pillow's decompression-bomb limit",
                     width, height, width * height, kMaxImagePixels);
}

// "" when a width x height image can come from a file of `size` bytes (image_decode.h: kMaxPixelsPerByte), else why not.
std::string implausible(int64_t width, int64_t height, size_t size) {
  const int64_t pixels = width * height;
  if (pixels <= kPlausiblePixels || pixels / kMaxPixelsPerByte <= static_cast<int64_t>(size)) return {};
  return fmt::format("the image is {}x{} (width x height), {} pixels, in a file of {} bytes: more than {} pixels a "
                     "byte, more than any file holds (truncated, or a decompression bomb)",
                     width, height, pixels, size, kMaxPixelsPerByte);
}

// Pillow's CMYK -> RGB (Convert.c cmyk2rgb) of Adobe's inverted CMYK as libjpeg returns it (Pillow reads CMYK
// JPEGs as "CMYK;I"): with C = 255 - stored, nk = 255 - K = stored K, R = nk - C * nk / 255 (rounded as MULDIV255).
uint8_t cmyk_to_rgb_band(uint8_t stored_colour, uint8_t stored_black) {
  const int c = 255 - stored_colour, nk = stored_black;
  const int t = c * nk + 128;
  const int v = nk - (((t >> 8) + t) >> 8);
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

std::string decode_jpeg(const uint8_t* data, size_t size, Image8& out, const DecodeOptions& options) {
  if (size > ULONG_MAX) return "JPEG: the file is too large";
  TjHandle tj(tjInitDecompress());
  if (!tj) return fmt::format("JPEG: TurboJPEG could not start: {}", tjGetErrorStr2(nullptr));
  int width = 0, height = 0, subsampling = 0, colourspace = 0;
  if (tjDecompressHeader3(tj.get(), data, static_cast<unsigned long>(size), &width, &height, &subsampling,
                          &colourspace) != 0)
    return fmt::format("JPEG: {}", tjGetErrorStr2(tj.get()));
  if (width <= 0 || height <= 0)  // libjpeg stops at the end of a cut header with a warning, no frame read yet
    return fmt::format("JPEG: the header ends before the image's size ({}x{}): the file is truncated", width, height);
  if (int64_t{width} * height > kMaxImagePixels) return "JPEG: " + too_large(width, height);
  if (const std::string why = implausible(width, height, size); !why.empty()) return "JPEG: " + why;

  const bool grey = colourspace == TJCS_GRAY;
  const bool cmyk = colourspace == TJCS_CMYK || colourspace == TJCS_YCCK;
  const int format = grey ? TJPF_GRAY : cmyk ? TJPF_CMYK : TJPF_RGB;
  const int decoded_bands = tjPixelSize[format];
  const JpegScale scale = jpeg_scale_for(width, height, options);
  std::vector<uint8_t> decoded;
  try {
    decoded.resize(static_cast<size_t>(scale.width) * scale.height * decoded_bands);
  } catch (const std::bad_alloc&) {
    return fmt::format("JPEG: out of memory for a {}x{} image", scale.width, scale.height);
  }
  if (tjDecompress2(tj.get(), data, static_cast<unsigned long>(size), decoded.data(), scale.width, 0, scale.height,
                    format, kJpegFlags) != 0) {
    const bool warning = tjGetErrorCode(tj.get()) == TJERR_WARNING;
    return fmt::format("JPEG: {}{}", tjGetErrorStr2(tj.get()),
                       warning ? " (the file is truncated or its data corrupt)" : "");
  }

  out.width = scale.width;
  out.height = scale.height;
  out.bands = 3;
  const size_t count = static_cast<size_t>(scale.width) * scale.height;
  if (format == TJPF_RGB) {
    out.pixels = std::move(decoded);
    return {};
  }
  out.pixels.resize(count * 3);
  for (size_t i = 0; i < count; ++i) {
    uint8_t* rgb = &out.pixels[3 * i];
    if (grey) {
      rgb[0] = rgb[1] = rgb[2] = decoded[i];
    } else {
      const uint8_t* px = &decoded[4 * i];
      for (int c = 0; c < 3; ++c) rgb[c] = cmyk_to_rgb_band(px[c], px[3]);
    }
  }
  return {};
}

bool is_pnm(const uint8_t* data, size_t size) { return size >= 2 && data[0] == 'P' && (data[1] == '5' || data[1] == '6'); }

// Where the pixels of a binary PGM / PPM file start, found as stb_image's header parser (stbi__pnm_info) finds
// it: after "P5" / "P6" and one character, white space and '#' comments, width, height and maximum value (digits),
// and the one character that ends the maximum value.
size_t pnm_pixel_offset(const uint8_t* data, size_t size) {
  size_t pos = 2;
  auto at_end = [&] { return pos >= size; };
  auto next = [&] { return pos < size ? static_cast<char>(data[pos++]) : '\0'; };
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  char c = next();
  auto skip_space_and_comments = [&] {
    for (;;) {
      while (!at_end() && space(c)) c = next();
      if (at_end() || c != '#') return;
      while (!at_end() && c != '\n' && c != '\r') c = next();
    }
  };
  auto skip_digits = [&] {
    while (!at_end() && c >= '0' && c <= '9') c = next();
  };
  skip_space_and_comments();
  skip_digits();  // width
  skip_space_and_comments();
  skip_digits();  // height
  skip_space_and_comments();
  skip_digits();  // maximum value
  return pos;
}

bool starts_with(const uint8_t* data, size_t size, std::string_view magic) {
  return size >= magic.size() && std::equal(magic.begin(), magic.end(), data, [](char m, uint8_t d) {
           return static_cast<uint8_t>(m) == d;  // "\x89PNG": compared as bytes, not as a signed char
         });
}

// The bytes of pixels an uncompressed true-colour or grey TGA file needs after its header, or -1 when the file is
// not one: stb_image tries TGA (no magic number) after the formats that have one, and reads these pixels without
// checking that the file holds them.
int64_t tga_raw_pixel_bytes(const uint8_t* data, size_t size, int width, int height) {
  for (std::string_view magic : {"\x89PNG", "BM", "GIF8", "8BPS", "\x53\x80\xF6\x34", "P5", "P6", "#?RADIANCE\n", "#?RGBE\n"})
    if (starts_with(data, size, magic)) return -1;
  auto byte = [&](size_t i) -> int { return i < size ? data[i] : 0; };  // stb_image reads 0 past the end
  if (byte(1) != 0 || (byte(2) != 2 && byte(2) != 3)) return -1;  // colour-mapped or RLE: checked reads
  const int bits = byte(16);
  const bool rgb16 = bits == 15 || (bits == 16 && byte(2) != 3);  // read pixel by pixel, zeros past the end
  if (rgb16 || bits % 8 != 0 || bits < 8 || bits > 32) return -1;
  return int64_t{width} * height * (bits / 8);
}

// For a PNG file, why a chunk claims more bytes than the file has left, or "". stb_image 2.27 grows its buffer of
// compressed pixels to an IDAT chunk's claimed length (up to 2 GiB) before it finds the bytes missing: a 60-byte
// file would cost a 2 GiB allocation. A chunk running past the end fails in stb_image anyway; chunks after IEND
// are not read.
std::string png_chunk_problem(const uint8_t* data, size_t size) {
  if (!starts_with(data, size, std::string_view("\x89PNG\r\n\x1a\n", 8))) return {};
  size_t pos = 8;
  while (pos + 8 <= size) {
    const uint32_t length = (uint32_t{data[pos]} << 24) | (uint32_t{data[pos + 1]} << 16) |
                            (uint32_t{data[pos + 2]} << 8) | uint32_t{data[pos + 3]};
    const std::string_view type(reinterpret_cast<const char*>(data + pos + 4), 4);
    const size_t left = size - pos - 8;
    if (length > left) {
      std::string name;
      for (char c : type) name += (c >= 33 && c <= 126) ? c : '?';
      return fmt::format("PNG file truncated: the chunk '{}' at byte {} claims {} bytes of data, the file has {} left",
                         name, pos, length, left);
    }
    if (type == "IEND") return {};
    pos += size_t{8} + length + 4;  // length, type, data, CRC
  }
  return {};
}

// For a palette BMP (under 16 bits a pixel), why its palette cannot colour every pixel value, or "". stb_image 2.27
// sizes the palette from the pixel data's offset (which may even point inside the header) and colours the values
// past its end with uninitialised memory: the palette must have all 2^bits entries.
std::string bmp_palette_problem(const uint8_t* data, size_t size) {
  auto byte = [&](size_t i) -> int64_t { return i < size ? data[i] : 0; };  // stb_image reads 0 past the end
  auto le = [&](size_t at, int n) {
    int64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | byte(at + i);
    return v;
  };
  const int64_t offset = static_cast<int32_t>(le(10, 4)), header = static_cast<int32_t>(le(14, 4));
  const int64_t bits = header == 12 ? le(24, 2) : le(28, 2);
  if (bits >= 16) return {};
  const int64_t entries = header == 12 ? (offset - 14 - 24) / 3 : (offset - 14 - header) >> 2;  // as stb_image
  if (bits > 8 || entries < (int64_t{1} << bits))
    return fmt::format("BMP: a {}-bit palette image with {} palette entries (the pixel data at offset {}): it needs {}",
                       bits, entries, offset, bits > 8 ? 0 : int64_t{1} << bits);
  return {};
}

// A 16-bit PGM / PPM (maximum value over 255; its size checked by the caller), through stb_image's 16-bit entry
// without a band conversion: stb_image 2.27 converts a 16-bit PNM's bands with its 8-bit converter and then reads
// past the end of that buffer. Each sample keeps its high byte (as a 16-bit PNG's do); grey is replicated.
std::string decode_pnm16(const uint8_t* data, int len, Image8& out) {
  int w = 0, h = 0, n = 0;
  stbi_us* px = stbi_load_16_from_memory(data, len, &w, &h, &n, 0);
  if (!px) {
    const char* why = stbi_failure_reason();
    return why && *why ? why : "stb_image cannot decode the file (no reason given)";
  }
  if (w <= 0 || h <= 0 || (n != 1 && n != 3)) {
    stbi_image_free(px);
    return fmt::format("the image is {}x{} (width x height) with {} bands: it has no pixels", w, h, n);
  }
  const size_t count = static_cast<size_t>(w) * h;
  out.width = w;
  out.height = h;
  out.bands = 3;
  out.pixels.resize(count * 3);
  // stb_image 2.27 copies the file's big-endian samples as they are: the first byte of each is its high byte.
  const auto* bytes = reinterpret_cast<const uint8_t*>(px);
  for (size_t i = 0; i < count; ++i)
    for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = bytes[2 * (i * n + (n == 1 ? 0 : c))];
  stbi_image_free(px);
  return {};
}

std::string decode_with_stb(const uint8_t* data, size_t size, Image8& out) {
  if (size > INT_MAX) return "the file is too large for stb_image (more than 2 GiB)";
  const int len = static_cast<int>(size);
  int w = 0, h = 0, n = 0;
  const bool known = stbi_info_from_memory(data, len, &w, &h, &n);
  // stb_image 2.27 gives a top-down BMP's height as negative here (the decoder takes its absolute value).
  const int64_t width = std::abs(int64_t{w}), height = std::abs(int64_t{h});
  if (known && width * height > kMaxImagePixels) return too_large(width, height);
  if (const std::string why = known ? implausible(width, height, size) : ""; !why.empty()) return why;
  if (known && is_pnm(data, size) && w > 0 && h > 0) {
    // stb_image 2.27 does not check that a PGM / PPM file holds all its pixels: the missing ones would be
    // uninitialised memory. A file too short for width x height x bands x bytes is truncated.
    const int64_t bytes = int64_t{w} * h * n * (stbi_is_16_bit_from_memory(data, len) ? 2 : 1);
    const size_t offset = pnm_pixel_offset(data, size);
    if (static_cast<int64_t>(size - offset) < bytes)
      return fmt::format("PNM file truncated: {}x{} with {} band{} needs {} bytes of pixels, the file has {}", w, h, n,
                         n == 1 ? "" : "s", bytes, size - offset);
  }
  if (const int64_t bytes = known ? tga_raw_pixel_bytes(data, size, w, h) : -1; bytes >= 0) {
    const int64_t has = static_cast<int64_t>(size) - 18 - (size > 0 ? data[0] : 0);  // after the header and image ID
    if (has < bytes)
      return fmt::format("TGA file truncated: {}x{} needs {} bytes of pixels, the file has {}", w, h, bytes,
                         std::max<int64_t>(has, 0));
  }
  if (const std::string why = png_chunk_problem(data, size); !why.empty()) return why;
  if (known && starts_with(data, size, "BM"))
    if (const std::string why = bmp_palette_problem(data, size); !why.empty()) return why;
  if (known && is_pnm(data, size) && stbi_is_16_bit_from_memory(data, len)) return decode_pnm16(data, len, out);
  unsigned char* px = stbi_load_from_memory(data, len, &w, &h, &n, 4);
  if (!px) {  // stb_image sometimes fails without a reason (an empty one): still a failure
    const char* why = stbi_failure_reason();
    return why && *why ? why : "stb_image cannot decode the file (no reason given)";
  }
  if (w <= 0 || h <= 0) {  // stb_image accepts a PNM header of height or width 0
    stbi_image_free(px);
    return fmt::format("the image is {}x{} (width x height): it has no pixels", w, h);
  }
  const bool alpha = n == 2 || n == 4;  // grey + alpha, RGBA, or a tRNS chunk (stb_image counts it as alpha)
  out.width = w;
  out.height = h;
  out.bands = alpha ? 4 : 3;
  const size_t count = static_cast<size_t>(w) * h;
  out.pixels.resize(count * out.bands);
  for (size_t i = 0; i < count; ++i)
    for (int c = 0; c < out.bands; ++c) out.pixels[i * out.bands + c] = px[4 * i + c];
  stbi_image_free(px);
  return {};
}

}  // namespace

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

JpegScale jpeg_scale_for(int width, int height, const DecodeOptions& options) {
  JpegScale best{1, width, height};
  if (options.min_width <= 0 && options.min_height <= 0) return best;
  for (int d : {2, 4, 8}) {
    const int w = (width + d - 1) / d, h = (height + d - 1) / d;  // TJSCALED with 1/d
    if (w < options.min_width || h < options.min_height) break;
    best = {d, w, h};
  }
  return best;
}

std::string decode_image_bytes(const uint8_t* data, size_t size, Image8& out, const DecodeOptions& options) {
  if (size == 0) return "the file is empty";
  return is_jpeg(data, size) ? decode_jpeg(data, size, out, options) : decode_with_stb(data, size, out);
}

std::string decode_image_file(const std::string& path, Image8& out, const DecodeOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) || std::filesystem::is_directory(path, ec)) return "file not found";
  const uintmax_t file_size = std::filesystem::file_size(path, ec);
  if (ec) return "cannot read the file's size: " + ec.message();
  std::ifstream in(path, std::ios::binary);
  if (!in) return "cannot open the file";
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(file_size);
  } catch (const std::exception&) {
    return fmt::format("out of memory reading the file ({} bytes)", file_size);
  }
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size())))
    return "read error";
  return decode_image_bytes(bytes.data(), bytes.size(), out, options);
}

}  // namespace sg
