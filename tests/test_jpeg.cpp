// JPEG decoding (siglip/image_decode.h): colour, grey and CMYK files decode to the pixels they were written from
// (up to JPEG's loss), in RGB order; JPEG is recognised by its bytes, not its name; truncated and corrupt files are
// errors naming the file (never a crash); scaled decoding picks the smallest scale at least as large as asked and
// stays close to a full decode followed by a box downscale. Exactness against Pillow is preprocess_parity.py's.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <turbojpeg.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "nn/fileio.h"
#include "siglip/image_processor.h"
#include "tests/error_of.h"
#include "tests/siglip_run.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::string temp_dir(const std::string& name) {
  const std::string dir = (fs::temp_directory_path() / ("sg_test_jpeg_" + name)).string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A smooth colour image with a few hard edges: [height, width, bands].
std::vector<uint8_t> smooth_image(int width, int height, int bands) {
  std::vector<uint8_t> px(static_cast<size_t>(width) * height * bands);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int b = 0; b < bands; ++b) {
        double v = 128 + 100 * std::sin(0.05 * x * (b + 1) + 0.03 * y) * std::cos(0.02 * y * (2 - b % 3));
        if ((x / 37 + y / 29) % 5 == b) v = 40 + 50 * b;  // flat patches with sharp borders
        px[(static_cast<size_t>(y) * width + x) * bands + b] = static_cast<uint8_t>(std::lround(v));
      }
  return px;
}

// A JPEG written by libjpeg-turbo's encoder from pixels in `format` (TJPF_GRAY or TJPF_CMYK here).
void write_turbojpeg(const std::string& path, const std::vector<uint8_t>& px, int width, int height, int format,
                     int subsampling, int quality) {
  tjhandle tj = tjInitCompress();
  REQUIRE(tj != nullptr);
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, px.data(), width, 0, height, format, &jpeg, &size, subsampling, quality, 0);
  INFO(tjGetErrorStr2(tj));
  REQUIRE(rc == 0);
  write_file_atomic(path, std::string(reinterpret_cast<const char*>(jpeg), size));
  tjFree(jpeg);
  tjDestroy(tj);
}

struct Diff {
  double mean = 0;
  int max = 0;
};
Diff diff_of(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  REQUIRE(a.size() == b.size());
  Diff d;
  for (size_t i = 0; i < a.size(); ++i) {
    const int e = std::abs(int{a[i]} - int{b[i]});
    d.mean += e;
    d.max = std::max(d.max, e);
  }
  d.mean /= static_cast<double>(a.size());
  return d;
}

std::string bytes_of(const std::string& path) { return read_file(path); }

}  // namespace

TEST_CASE("jpeg: a colour JPEG written by stb_image_write decodes to its pixels, in RGB order, whatever its name") {
  const std::string dir = temp_dir("colour");
  const int w = 67, h = 45;  // not a multiple of the 8x8 blocks
  const std::vector<uint8_t> src = smooth_image(w, h, 3);
  REQUIRE(stbi_write_jpg((dir + "/a.jpg").c_str(), w, h, 3, src.data(), 95) != 0);
  Image8 im;
  REQUIRE(decode_image_file(dir + "/a.jpg", im) == "");
  CHECK(im.width == w);
  CHECK(im.height == h);
  REQUIRE(im.bands == 3);
  const Diff d = diff_of(im.pixels, src);
  INFO("mean " << d.mean << " max " << d.max);
  CHECK(d.mean < 1.5);
  CHECK(d.max < 24);

  // Flat colours, quality 100 (no chroma subsampling at stb's quality > 90): each block's centre is its colour.
  const std::vector<std::array<uint8_t, 3>> colours = {{200, 30, 90}, {10, 220, 40}, {60, 70, 250}, {255, 255, 0}};
  std::vector<uint8_t> blocks(64 * 16 * 3);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 3; ++c) blocks[(y * 64 + x) * 3 + c] = colours[x / 16][c];
  REQUIRE(stbi_write_jpg((dir + "/blocks.png").c_str(), 64, 16, 3, blocks.data(), 100) != 0);  // a JPEG named .png
  Image8 b;
  REQUIRE(decode_image_file(dir + "/blocks.png", b) == "");
  REQUIRE(b.bands == 3);
  for (int k = 0; k < 4; ++k)
    for (int c = 0; c < 3; ++c) {
      CAPTURE(k);
      CAPTURE(c);
      CHECK(std::abs(int{b.pixels[(8 * 64 + 16 * k + 8) * 3 + c]} - int{colours[k][c]}) <= 1);
    }
  const std::string bytes = bytes_of(dir + "/blocks.png");
  CHECK(is_jpeg(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));

  // And a PNG named .jpg goes to stb_image: the same pixels exactly.
  REQUIRE(stbi_write_png((dir + "/p.jpg").c_str(), w, h, 3, src.data(), w * 3) != 0);
  Image8 p;
  REQUIRE(decode_image_file(dir + "/p.jpg", p) == "");
  CHECK(p.pixels == src);
  fs::remove_all(dir);
}

TEST_CASE("jpeg: a grey JPEG (one component) decodes to its levels replicated to RGB") {
  const std::string dir = temp_dir("grey");
  const int w = 50, h = 33;
  const std::vector<uint8_t> src = smooth_image(w, h, 1);
  write_turbojpeg(dir + "/g.jpg", src, w, h, TJPF_GRAY, TJSAMP_GRAY, 95);
  Image8 im;
  REQUIRE(decode_image_file(dir + "/g.jpg", im) == "");
  REQUIRE(im.bands == 3);
  REQUIRE(im.width == w);
  REQUIRE(im.height == h);
  std::vector<uint8_t> red(static_cast<size_t>(w) * h);
  size_t unequal = 0;
  for (size_t i = 0; i < red.size(); ++i) {
    red[i] = im.pixels[3 * i];
    unequal += im.pixels[3 * i + 1] != red[i] || im.pixels[3 * i + 2] != red[i];
  }
  CHECK(unequal == 0);
  const Diff d = diff_of(red, src);
  INFO("mean " << d.mean << " max " << d.max);
  CHECK(d.mean < 1.5);
  CHECK(d.max < 24);
  fs::remove_all(dir);
}

TEST_CASE("jpeg: a CMYK (YCCK) JPEG is converted to RGB with Pillow's formula") {
  const std::string dir = temp_dir("cmyk");
  // Flat 16x16 blocks of stored (Adobe, inverted) CMYK values.
  const std::vector<std::array<uint8_t, 4>> stored = {{255, 255, 255, 255}, {200, 100, 50, 255}, {0, 128, 255, 200},
                                                      {90, 180, 30, 60}};
  std::vector<uint8_t> px(64 * 16 * 4);
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < 4; ++c) px[(y * 64 + x) * 4 + c] = stored[x / 16][c];
  write_turbojpeg(dir + "/c.jpg", px, 64, 16, TJPF_CMYK, TJSAMP_444, 100);
  Image8 im;
  REQUIRE(decode_image_file(dir + "/c.jpg", im) == "");
  REQUIRE(im.bands == 3);
  for (int k = 0; k < 4; ++k)
    for (int c = 0; c < 3; ++c) {
      // Pillow: C = 255 - stored, nk = 255 - K = stored K, R = nk - C * nk / 255
      const double nk = stored[k][3], colour = 255 - stored[k][c];
      const double expected = nk - colour * nk / 255;
      CAPTURE(k);
      CAPTURE(c);
      CHECK(std::abs(im.pixels[(8 * 64 + 16 * k + 8) * 3 + c] - expected) <= 2.0);
    }
  fs::remove_all(dir);
}

TEST_CASE("jpeg: truncated and corrupt JPEGs are errors naming the file, never a crash") {
  const std::string dir = temp_dir("bad");
  const int w = 120, h = 80;
  const std::vector<uint8_t> src = smooth_image(w, h, 3);
  REQUIRE(stbi_write_jpg((dir + "/ok.jpg").c_str(), w, h, 3, src.data(), 90) != 0);
  const std::string good = bytes_of(dir + "/ok.jpg");
  const size_t sos = good.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  const size_t data_start = sos + 2 + ((uint8_t(good[sos + 2]) << 8) | uint8_t(good[sos + 3]));
  REQUIRE(data_start < good.size());

  std::string noise;
  uint32_t seed = 7;
  for (size_t i = 0; i < good.size(); ++i) noise += static_cast<char>((seed = seed * 1664525u + 1013904223u) >> 24);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"half", good.substr(0, good.size() / 2)},
      {"no_end_marker", good.substr(0, good.size() - 2)},
      {"header_only", good.substr(0, data_start)},
      {"in_the_tables", good.substr(0, 100)},
      {"random_after_header", good.substr(0, data_start) + noise.substr(data_start)},
      {"random_after_magic", good.substr(0, 3) + noise.substr(3)},
  };
  for (const auto& [name, bytes] : cases) {
    CAPTURE(name);
    const std::string path = dir + "/" + name + ".jpg";
    write_file_atomic(path, bytes);
    Image8 im;
    const std::string why = decode_image_file(path, im);
    CHECK(why.rfind("JPEG: ", 0) == 0);
    const std::string err = error_of([&] { ImageProcessor().load(path, 3); });
    CHECK(err.find(path) != std::string::npos);
    CHECK(err.find(why) != std::string::npos);
  }
  // libjpeg's own words for a file cut short; a header cut before the frame's size.
  Image8 im;
  CHECK(decode_image_file(dir + "/half.jpg", im).find("Premature end of JPEG file") != std::string::npos);
  CHECK(decode_image_file(dir + "/in_the_tables.jpg", im).find("the file is truncated") != std::string::npos);

  // Every length and a flipped byte at many offsets: an error or an image, never a crash.
  size_t errors = 0, tried = 0;
  for (size_t n = 3; n < good.size(); n += 13, ++tried) {
    Image8 out;
    errors += !decode_image_bytes(reinterpret_cast<const uint8_t*>(good.data()), n, out).empty();
  }
  CHECK(errors == tried);
  for (size_t at = 2; at < good.size(); at += 7) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x5A);
    Image8 out;
    const std::string why = decode_image_bytes(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), out);
    if (why.empty()) CHECK(out.pixels.size() == static_cast<size_t>(out.width) * out.height * 3);
  }

  // A header claiming more pixels than Pillow's decompression-bomb limit: refused before decoding.
  std::string huge = good;
  const size_t sof = huge.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  for (size_t k : {sof + 5, sof + 7}) huge[k] = '\xEA';  // 60000 x 60000 (0xEA60; libjpeg's limit is 65500)
  for (size_t k : {sof + 6, sof + 8}) huge[k] = '\x60';
  const std::string bomb = decode_image_bytes(reinterpret_cast<const uint8_t*>(huge.data()), huge.size(), im);
  INFO(bomb);
  CHECK(bomb.find("60000x60000 (width x height), 3600000000 pixels") != std::string::npos);
  CHECK(bomb.find("decompression-bomb limit") != std::string::npos);

  // Through the command line: the file named, exit status not 0.
  const SiglipRun r = run_siglip("preprocess --image-size 16 " + dir + "/half.jpg --out " + dir + "/x.safetensors");
  CHECK(r.status != 0);
  CHECK(r.output.find(dir + "/half.jpg") != std::string::npos);
  CHECK(r.output.find("Premature end of JPEG file") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("jpeg: scaled decoding picks the smallest scale at least as large as asked, close to a box downscale") {
  CHECK(jpeg_scale_for(1000, 600, {}).denominator == 1);
  for (auto [w, h, min_w, min_h, d, ow, oh] : std::vector<std::array<int, 7>>{{1000, 600, 224, 224, 2, 500, 300},
                                                                             {1000, 600, 100, 50, 8, 125, 75},
                                                                             {1000, 600, 250, 150, 4, 250, 150},
                                                                             {1000, 600, 251, 150, 2, 500, 300},
                                                                             {1001, 601, 1, 1, 8, 126, 76},
                                                                             {1000, 600, 2000, 10, 1, 1000, 600},
                                                                             {1000, 600, 0, 300, 2, 500, 300},
                                                                             {7, 5, 1, 1, 8, 1, 1}}) {
    CAPTURE(w);
    CAPTURE(h);
    CAPTURE(min_w);
    CAPTURE(min_h);
    const JpegScale s = jpeg_scale_for(w, h, DecodeOptions{min_w, min_h});
    CHECK(s.denominator == d);
    CHECK(s.width == ow);
    CHECK(s.height == oh);
  }

  const std::string dir = temp_dir("scaled");
  const int w = 1000, h = 600;
  const std::vector<uint8_t> src = smooth_image(w, h, 3);
  REQUIRE(stbi_write_jpg((dir + "/big.jpg").c_str(), w, h, 3, src.data(), 90) != 0);
  Image8 full;
  REQUIRE(decode_image_file(dir + "/big.jpg", full) == "");
  REQUIRE(full.width == w);
  for (int d : {2, 4, 8}) {
    CAPTURE(d);
    Image8 scaled;
    REQUIRE(decode_image_file(dir + "/big.jpg", scaled, DecodeOptions{w / d, h / d}) == "");
    REQUIRE(scaled.width == w / d);
    REQUIRE(scaled.height == h / d);
    REQUIRE(scaled.bands == 3);
    const Image8 boxed = resize_like_pillow(full, w / d, h / d, Resample::Box);
    const Diff diff = diff_of(scaled.pixels, boxed.pixels);
    INFO("mean " << diff.mean << " max " << diff.max);
    CHECK(diff.mean < 2.0);  // measured: 0.63, 0.94, 1.40 levels at 1/2, 1/4, 1/8
    CHECK(diff.max < 48);    // measured: 8, 18, 34 (the flat patches' sharp borders)
  }
  // Other formats ignore the option; the processor always decodes at full size.
  REQUIRE(stbi_write_png((dir + "/big.png").c_str(), w, h, 3, src.data(), w * 3) != 0);
  Image8 png;
  REQUIRE(decode_image_file(dir + "/big.png", png, DecodeOptions{100, 100}) == "");
  CHECK(png.width == w);
  ImageProcessor p;
  p.do_resize = false;
  CHECK(p.load(dir + "/big.jpg", 3).width == w);
  fs::remove_all(dir);
}
