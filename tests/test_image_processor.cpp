// The image processor (siglip/image_processor.h): Pillow's resize on hand-checked cases, constants and identities;
// preprocessor_config.json read, written and refused with errors naming file and field; a checkpoint's
// preprocessor_config.json changing what `siglip preprocess` writes; and scripts/preprocess_parity.py against
// transformers' SiglipImageProcessor (when .venv has transformers and PIL).
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/data.h"
#include "siglip/image_processor.h"
#include "tests/error_of.h"
#include "tests/siglip_run.h"
#include "tests/small_config.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

Image8 image_of(int width, int height, int bands, std::vector<uint8_t> pixels) {
  REQUIRE(pixels.size() == static_cast<size_t>(width) * height * bands);
  return Image8{width, height, bands, std::move(pixels)};
}

// Deterministic pseudo-random pixels.
Image8 noise_image(int width, int height, int bands, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(width) * height * bands);
  for (uint8_t& v : px) v = static_cast<uint8_t>((seed = seed * 1664525u + 1013904223u) >> 24);
  return image_of(width, height, bands, std::move(px));
}

// transformers' arithmetic for one 8-bit value: float32(float64(v) * factor), then (x - mean) / std in float32.
float expected_value(uint8_t v, double factor, double mean, double std_) {
  const float x = static_cast<float>(static_cast<double>(v) * factor);
  return (x - static_cast<float>(mean)) / static_cast<float>(std_);
}

void write_rgb_png(const std::string& path, const Image8& im) {
  REQUIRE(im.bands == 3);
  REQUIRE(stbi_write_png(path.c_str(), im.width, im.height, 3, im.pixels.data(), im.width * 3) != 0);
}

// The error of ImageProcessor::from_json on a file holding `text`.
std::string config_error(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = dir + "/" + name;
  write_file_atomic(path, text);
  return error_of([&] { ImageProcessor::from_json(path); });
}

// A checkpoint folder: config.json and model.safetensors of a small random model taking 16 px images.
void write_small_checkpoint(const std::string& dir) {
  SiglipConfig c = small_config({.text_len = 6});
  SiglipModel m(c);
  m.init_weights(3);
  make_dirs(dir);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, p] : m.named_parameters()) tensors.emplace_back(name, *p);
  save_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", c.to_json().dump(2) + "\n");
}

}  // namespace

TEST_CASE("image processor: the same size is the identity up to rescale and normalise") {
  const Image8 im = noise_image(7, 5, 3, 1);
  ImageProcessor p;
  p.width = 7;
  p.height = 5;
  const PixelValues out = p.process(im, 3);
  REQUIRE(out.channels == 3);
  REQUIRE(out.height == 5);
  REQUIRE(out.width == 7);
  const size_t hw = 35;
  size_t bad = 0;
  for (size_t i = 0; i < hw; ++i)
    for (int c = 0; c < 3; ++c) bad += out.data[c * hw + i] != expected_value(im.pixels[3 * i + c], 1.0 / 255, 0.5, 0.5);
  CHECK(bad == 0);
  CHECK(resize_like_pillow(im, 7, 5, Resample::Bicubic).pixels == im.pixels);
  // Without rescale and normalise: the 8-bit values themselves.
  p.do_rescale = p.do_normalize = false;
  CHECK(p.process(im, 3).data[hw + 4] == static_cast<float>(im.pixels[3 * 4 + 1]));
}

TEST_CASE("image processor: a constant image stays constant after any resize") {
  for (int bands : {1, 3}) {
    for (Resample r : {Resample::Bicubic, Resample::Bilinear, Resample::Lanczos, Resample::Box, Resample::Hamming}) {
      for (auto [w, h, ow, oh] : std::vector<std::array<int, 4>>{
               {31, 47, 224, 224}, {300, 200, 64, 64}, {97, 640, 224, 224}, {5, 3, 17, 2}, {640, 97, 13, 100}}) {
        for (uint8_t value : {uint8_t{0}, uint8_t{1}, uint8_t{137}, uint8_t{255}}) {
          CAPTURE(bands);
          CAPTURE(static_cast<int>(r));
          CAPTURE(w);
          CAPTURE(h);
          CAPTURE(static_cast<int>(value));
          const Image8 out =
              resize_like_pillow(image_of(w, h, bands, std::vector<uint8_t>(size_t(w) * h * bands, value)), ow, oh, r);
          REQUIRE(out.width == ow);
          REQUIRE(out.height == oh);
          size_t off = 0;
          for (uint8_t v : out.pixels) off += v != value;
          CHECK(off == 0);
        }
      }
    }
  }
}

TEST_CASE("image processor: hand-checked resizes") {
  // Bicubic 2 -> 4 (a = -0.5): output 1 has centre 0.75, taps at offsets -0.25 and 0.75 with weights 0.8671875
  // and 0.2265625, normalised to 0.792857 and 0.207143: 255 * 0.207143 = 52.8 -> 53; mirrored 202; the ends
  // overshoot (1.088, -0.088) and clip to 0 and 255.
  CHECK(resize_like_pillow(image_of(2, 1, 1, {0, 255}), 4, 1, Resample::Bicubic).pixels ==
        std::vector<uint8_t>{0, 53, 202, 255});
  // Bilinear 4 -> 2: the triangle stretched by 2, taps (x - c + 0.5) / 2 -> weights 3/7, 3/7, 1/7 at the edges.
  CHECK(resize_like_pillow(image_of(4, 1, 1, {0, 0, 255, 255}), 2, 1, Resample::Bilinear).pixels ==
        std::vector<uint8_t>{36, 219});
  // The same along the other axis, and per band.
  CHECK(resize_like_pillow(image_of(1, 4, 2, {0, 255, 0, 255, 255, 0, 255, 0}), 1, 2, Resample::Bilinear).pixels ==
        std::vector<uint8_t>{36, 219, 219, 36});
  // Through the processor: 53 rescaled and normalised.
  ImageProcessor p = ImageProcessor::siglip_default(4);
  p.height = 1;
  const PixelValues px = p.process(image_of(2, 1, 3, {0, 0, 0, 255, 255, 255}), 3);
  CHECK(px.data[1] == expected_value(53, 1.0 / 255, 0.5, 0.5));
}

TEST_CASE("image processor: downscale by 2 of stripes") {
  // Columns 0, 255, 0, 255, ... of width 8 -> 4. Box: each output averages two columns: 127.5 -> 128.
  std::vector<uint8_t> stripes;
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 8; ++x) stripes.push_back(x % 2 ? 255 : 0);
  const Image8 im = image_of(8, 3, 1, stripes);
  for (int y = 0; y < 3; ++y) {
    const Image8 box = resize_like_pillow(im, 4, 3, Resample::Box);
    CHECK(std::vector<uint8_t>(box.pixels.begin() + 4 * y, box.pixels.begin() + 4 * y + 4) ==
          std::vector<uint8_t>{128, 128, 128, 128});
    // Bilinear: weights 1/8, 3/8, 3/8, 1/8 inside (127.5 -> 128); at the edges 3/7, 3/7, 1/7 over (0, 255, 0) and
    // 1/7, 3/7, 3/7 over (255, 0, 255): 109.3 -> 109, 145.7 -> 146.
    const Image8 lin = resize_like_pillow(im, 4, 3, Resample::Bilinear);
    CHECK(std::vector<uint8_t>(lin.pixels.begin() + 4 * y, lin.pixels.begin() + 4 * y + 4) ==
          std::vector<uint8_t>{109, 128, 128, 146});
  }
  // A 2x2 checkerboard tiled on 8x8, halved both ways with box: grey everywhere.
  std::vector<uint8_t> board;
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x) board.push_back((x + y) % 2 ? 255 : 0);
  const Image8 half = resize_like_pillow(image_of(8, 8, 1, board), 4, 4, Resample::Box);
  CHECK(half.pixels == std::vector<uint8_t>(16, 128));
}

TEST_CASE("image processor: alpha is composited onto white; grey models take the luma of the resized image") {
  // Pillow's integer alpha composite onto opaque white: alpha 0 -> white, 255 -> the colour, 128 in between.
  const Image8 rgba = image_of(3, 1, 4, {10, 20, 30, 0, 10, 20, 30, 255, 0, 100, 200, 128});
  const Image8 rgb = composite_on_white(rgba);
  CHECK(rgb.pixels == std::vector<uint8_t>{255, 255, 255, 10, 20, 30, 127, 177, 227});
  ImageProcessor p = ImageProcessor::siglip_default(3);
  p.height = 1;
  CHECK(p.process(rgba, 3).data[0] == 1.0f);  // white
  p.do_convert_rgb = false;                   // alpha dropped instead
  CHECK(p.process(rgba, 3).data[0] == expected_value(10, 1.0 / 255, 0.5, 0.5));

  const PixelValues grey = ImageProcessor::siglip_default(2).process(image_of(2, 2, 3, {200, 100, 50, 0, 0, 0,
                                                                                       200, 100, 50, 0, 0, 0}),
                                                                     1);
  REQUIRE(grey.channels == 1);
  CHECK(grey.data[0] == expected_value(static_cast<uint8_t>(std::round(0.299f * 200 + 0.587f * 100 + 0.114f * 50)),
                                       1.0 / 255, 0.5, 0.5));
  CHECK(grey.data[1] == -1.0f);
}

TEST_CASE("image processor: preprocessor_config.json is read with SiglipImageProcessor's defaults and written back") {
  const std::string dir = temp_dir("imgproc_json");
  make_dirs(dir);
  write_file_atomic(dir + "/empty.json", "{}");
  const ImageProcessor d = ImageProcessor::from_json(dir + "/empty.json");
  CHECK(d.do_resize);
  CHECK(d.height == 224);
  CHECK(d.width == 224);
  CHECK(d.resample == Resample::Bicubic);
  CHECK(d.rescale_factor == 1.0 / 255);
  CHECK(d.image_mean == std::vector<double>{0.5, 0.5, 0.5});
  CHECK(d.image_std == std::vector<double>{0.5, 0.5, 0.5});
  CHECK(d.do_convert_rgb);

  // As google/siglip-base-patch16-224 has it (processor_class and all), and with a scalar mean.
  write_file_atomic(dir + "/hf.json", R"({"do_normalize": true, "do_rescale": true, "do_resize": true,
    "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "SiglipImageProcessor",
    "image_std": [0.26862954, 0.26130258, 0.27577711], "processor_class": "SiglipProcessor", "resample": 2,
    "rescale_factor": 0.00392156862745098, "size": {"height": 384, "width": 256}, "do_convert_rgb": null})");
  const ImageProcessor p = ImageProcessor::from_json(dir + "/hf.json");
  CHECK(p.height == 384);
  CHECK(p.width == 256);
  CHECK(p.resample == Resample::Bilinear);
  CHECK(p.image_mean[2] == 0.40821073);
  CHECK(p.image_std[0] == 0.26862954);
  CHECK(p.do_convert_rgb);
  write_file_atomic(dir + "/scalar.json", R"({"image_mean": 0.25, "image_std": 2})");
  CHECK(ImageProcessor::from_json(dir + "/scalar.json").image_mean == std::vector<double>{0.25, 0.25, 0.25});
  CHECK(ImageProcessor::from_json(dir + "/scalar.json").image_std == std::vector<double>{2, 2, 2});

  // to_json round trip, in transformers' form.
  const nlohmann::json j = p.to_json();
  CHECK(j["image_processor_type"] == "SiglipImageProcessor");
  CHECK(j["size"] == nlohmann::json{{"height", 384}, {"width", 256}});
  CHECK(j["resample"] == 2);
  const ImageProcessor back = ImageProcessor::from_json_value(j, "round trip");
  CHECK(back.to_json() == j);
  CHECK(ImageProcessor::siglip_default(16).to_json()["rescale_factor"].dump() == "0.00392156862745098");

  // Fitting to a model: the size becomes the model's, and says so; grey models need one mean and one std.
  ImageProcessor fit = p;
  const std::string note = fit.fit_to_model(224, 3, "x/preprocessor_config.json");
  CHECK(note.find("x/preprocessor_config.json resizes to 384x256") != std::string::npos);
  CHECK(note.find("resized to 224x224") != std::string::npos);
  CHECK(fit.height == 224);
  CHECK(fit.width == 224);
  CHECK(ImageProcessor::siglip_default(224).fit_to_model(224, 3, "x").empty());
  CHECK(error_of([&] { fit.fit_to_model(224, 1, "x/preprocessor_config.json"); }) ==
        "image processor: x/preprocessor_config.json: image_mean is [0.48145466,0.4578275,0.40821073] but the model "
        "is grey (1 channel): it needs one value (a number, or three equal ones)");
  fs::remove_all(dir);
}

TEST_CASE("image processor: bad preprocessor_config.json files are errors naming the file and the field") {
  const std::string dir = temp_dir("imgproc_bad");
  make_dirs(dir);
  struct Case {
    const char* name;
    const char* text;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::vector<Case> cases = {
      {"malformed.json", "{\"do_resize\": tru", {"malformed JSON"}},
      {"array.json", "[1, 2]", {"expected a JSON object"}},
      {"type_bool.json", R"({"do_resize": "yes"})", {"do_resize must be true or false", "\"yes\""}},
      {"type_factor.json", R"({"rescale_factor": "1/255"})", {"rescale_factor must be a number"}},
      {"std_zero.json", R"({"image_std": [0.5, 0, 0.5]})", {"image_std[1] is 0"}},
      {"mean_two.json", R"({"image_mean": [0.5, 0.5]})", {"image_mean has 2 values", "3 channels"}},
      {"std_four.json", R"({"image_std": [0.5, 0.5, 0.5, 0.5]})", {"image_std has 4 values"}},
      {"mean_text.json", R"({"image_mean": [0.5, "a", 0.5]})", {"image_mean[1] must be a number"}},
      {"nearest.json", R"({"resample": 0})", {"resample is 0", "0 (nearest) is not"}},
      {"resample_7.json", R"({"resample": 7})", {"resample is 7", "3 (bicubic"}},
      {"resample_str.json", R"({"resample": "bicubic"})", {"resample must be an integer"}},
      {"clip.json", R"({"image_processor_type": "CLIPImageProcessor"})",
       {"image_processor_type is \"CLIPImageProcessor\"", "SiglipImageProcessor"}},
      {"shortest.json", R"({"size": {"shortest_edge": 224}})", {"size must be {\"height\": H, \"width\": W}"}},
      {"size_extra.json", R"({"size": {"height": 224, "width": 224, "longest_edge": 300}})", {"size.longest_edge"}},
      {"size_neg.json", R"({"size": {"height": -3, "width": 224}})", {"size.height must be a positive integer"}},
      {"crop.json", R"({"do_center_crop": true, "crop_size": {"height": 200, "width": 200}})", {"do_center_crop"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string msg = config_error(dir, c.name, c.text);
    CHECK(msg.find("image processor: " + dir + "/" + c.name + ": ") == 0);
    for (const std::string& s : c.expect) CHECK_MESSAGE(msg.find(s) != std::string::npos, msg);
  }
  CHECK(error_of([&] { ImageProcessor::from_json(dir + "/absent.json"); }).find("absent.json: file not found") !=
        std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("image processor: a checkpoint's preprocessor_config.json changes what `siglip preprocess` writes") {
  const std::string dir = temp_dir("imgproc_ckpt");
  write_small_checkpoint(dir + "/ck");
  const Image8 same = noise_image(16, 16, 3, 5), other = noise_image(23, 11, 3, 6);
  write_rgb_png(dir + "/same.png", same);
  write_rgb_png(dir + "/other.png", other);
  auto preprocess = [&](const std::string& args) {
    const SiglipRun r = run_siglip("preprocess " + args + " --out " + dir + "/px.safetensors");
    INFO(r.output);
    REQUIRE(r.status == 0);
    return r.output;
  };
  auto pixel_values = [&] { return load_safetensors(dir + "/px.safetensors").at("pixel_values"); };

  // No preprocessor_config.json: as our models train (bicubic to 16, mean = std = 0.5).
  const std::string said = preprocess("--checkpoint " + dir + "/ck " + dir + "/same.png " + dir + "/other.png");
  CHECK(said.find("wrote pixel_values [2, 3, 16, 16]") != std::string::npos);
  const Tensor base = pixel_values();
  CHECK(base.shape() == Shape{2, 3, 16, 16});
  const std::vector<float> b = base.to_vector<float>();
  const size_t hw = 256;
  CHECK(b[hw + 7] == expected_value(same.pixels[3 * 7 + 1], 1.0 / 255, 0.5, 0.5));
  // --image-size alone is the same processor.
  preprocess("--image-size 16 " + dir + "/same.png " + dir + "/other.png");
  CHECK(pixel_values().to_vector<float>() == b);

  // A non-default mean and std (and a size the model cannot take, which becomes 16).
  const std::vector<double> mean{0.1, 0.2, 0.3}, stdev{0.2, 0.25, 0.5};
  write_file_atomic(dir + "/ck/preprocessor_config.json",
                    nlohmann::json{{"image_processor_type", "SiglipImageProcessor"},
                                   {"image_mean", mean},
                                   {"image_std", stdev},
                                   {"size", {{"height", 32}, {"width", 32}}}}
                        .dump());
  const std::string noted = preprocess("--checkpoint " + dir + "/ck " + dir + "/same.png " + dir + "/other.png");
  CHECK(noted.find("resized to 16x16") != std::string::npos);
  const std::vector<float> n = pixel_values().to_vector<float>();
  REQUIRE(n.size() == b.size());
  size_t bad = 0;
  for (size_t img = 0; img < 2; ++img)
    for (int c = 0; c < 3; ++c)
      for (size_t i = 0; i < hw; ++i) {
        const size_t at = (img * 3 + c) * hw + i;
        // the same resized 8-bit value v, seen through the other mean and std: b = (v/255 - 0.5) / 0.5
        const uint8_t v = static_cast<uint8_t>(std::lround((b[at] * 0.5f + 0.5f) * 255.0f));
        bad += n[at] != expected_value(v, 1.0 / 255, mean[c], stdev[c]);
      }
  CHECK(bad == 0);
  // load_checkpoint carries the same processor (classify, embed and eval use it).
  const LoadedModel lm = load_checkpoint(dir + "/ck");
  CHECK(lm.image_processor.image_mean == mean);
  CHECK(lm.image_processor.height == 16);
  CHECK(lm.image_processor_note.find("resizes to 32x32") != std::string::npos);
  CHECK(load_image(dir + "/same.png", 16, 3, lm.image_processor) ==
        std::vector<float>(n.begin(), n.begin() + 3 * hw));

  // Errors: a bad file in the checkpoint, and conflicting or missing choices.
  write_file_atomic(dir + "/ck/preprocessor_config.json", R"({"image_std": 0})");
  SiglipRun r = run_siglip("preprocess --checkpoint " + dir + "/ck " + dir + "/same.png --out " + dir + "/x.safetensors");
  CHECK(r.status != 0);
  CHECK(r.output.find(dir + "/ck/preprocessor_config.json: image_std[0] is 0") != std::string::npos);
  r = run_siglip("preprocess " + dir + "/same.png --out " + dir + "/x.safetensors");
  CHECK(r.output.find("--checkpoint DIR, --processor FILE or --image-size N") != std::string::npos);
  r = run_siglip("preprocess --image-size 16 " + dir + "/missing.png --out " + dir + "/x.safetensors");
  CHECK(r.status != 0);
  CHECK(r.output.find("missing.png") != std::string::npos);
  fs::remove_all(dir);
}

// scripts/preprocess_parity.py: real-looking PNG and JPEG images through transformers and `siglip preprocess`, and
// the JPEG decoder alone against Pillow's.
TEST_CASE("image processor: preprocess_parity.py matches transformers' SiglipImageProcessor (python oracle)") {
  if (const std::string why = oracle_missing("transformers, PIL, safetensors, numpy"); !why.empty()) {
    MESSAGE("skipped: " << why);
    return;
  }
  const SiglipRun r = run_shell(kOraclePython + " scripts/preprocess_parity.py --siglip " + siglip_binary());
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK(r.output.find("OK: all ") != std::string::npos);
  // PNG and JPEG (both decoded as Pillow decodes them): the same values exactly, for every mode and filter.
  std::vector<std::string> groups;
  for (size_t at = r.output.find("\n  "); at != std::string::npos; at = r.output.find("\n  ", at + 1)) {
    const std::string line = r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1);
    if (line.find("results): worst mean") != std::string::npos) {
      CHECK_MESSAGE(line.find("worst mean 0.000e+00 (-), worst max 0.000e+00 (-)") != std::string::npos, line);
      groups.push_back(line.substr(2, 9));
    } else if (line.find("files): worst max") != std::string::npos) {  // the JPEG decoder alone, in 8-bit levels
      CHECK_MESSAGE(line.find("worst max 0 levels (-), 0 values differ") != std::string::npos, line);
      groups.push_back("decoded " + line.substr(2, 9));
    }
  }
  CHECK(groups == std::vector<std::string>{"JPEG CMYK", "JPEG L   ", "JPEG RGB ", "PNG  L   ", "PNG  RGB ",
                                           "PNG  RGBA", "decoded JPEG CMYK", "decoded JPEG L   ",
                                           "decoded JPEG RGB "});
}

TEST_CASE("image decode: a file of width or height 0 is an error, not an empty image (stb_image accepts PNM ones)") {
  for (const std::string& bytes : {std::string("P5\n3 0\n255\n"), std::string("P6\n0 2\n255\n"),
                                  std::string("P5\n3\0\0\0\rIHDR", 13)}) {
    CAPTURE(bytes);
    Image8 im;
    const std::string why = decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), im);
    CHECK(!why.empty());
    CHECK(im.pixels.empty());
  }
  // The input fuzz_png found (fuzz/corpus/fuzz_png/crash_pnm_zero_height): "P5\n3" then bytes that read as height 0.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_pnm_zero_height");
  Image8 im;
  CHECK(decode_image_bytes(reinterpret_cast<const uint8_t*>(found.data()), found.size(), im) ==
        "the image is 3x0 (width x height): it has no pixels");
}

TEST_CASE("image decode: a file stb_image fails on without giving a reason is an error, not an empty image") {
  // Found by fuzz_png (fuzz/corpus/fuzz_png/crash_png_failure_without_reason): a 1-bit PNG header with colour type
  // 0x74; stb_image returns no pixels and an empty failure reason.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_png_failure_without_reason");
  Image8 im;
  const std::string why = decode_image_bytes(reinterpret_cast<const uint8_t*>(found.data()), found.size(), im);
  CHECK(!why.empty());
  CHECK(im.width == 0);
  CHECK(im.pixels.empty());
  const std::string dir = temp_dir("decode_no_reason");
  std::filesystem::create_directories(dir);
  write_file_atomic(dir + "/x.png", found);
  CHECK(error_of([&] { load_image(dir + "/x.png", 8, 3); }).find("cannot decode") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("image decode: a truncated PGM / PPM is an error (stb_image would leave the missing pixels uninitialised)") {
  auto decode = [](const std::string& bytes, Image8& im) {
    return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), im);
  };
  std::string pixels;
  for (int i = 0; i < 2 * 3 * 3; ++i) pixels += static_cast<char>(i * 13);
  const std::string whole = "P6\n# a comment\n3 2\n255\n" + pixels;
  Image8 im;
  REQUIRE(decode(whole, im) == "");
  CHECK((im.width == 3 && im.height == 2 && im.bands == 3));
  CHECK(std::string(im.pixels.begin(), im.pixels.end()) == pixels);
  CHECK(decode(whole.substr(0, whole.size() - 1), im) ==
        "PNM file truncated: 3x2 with 3 bands needs 18 bytes of pixels, the file has 17");
  CHECK(decode("P5 2 2 65535\n" + std::string(7, '\x10'), im) ==
        "PNM file truncated: 2x2 with 1 band needs 8 bytes of pixels, the file has 7");
  REQUIRE(decode("P5 2 2 65535\n" + std::string(8, '\x10'), im) == "");
  CHECK((im.width == 2 && im.pixels.size() == 12 && im.pixels[0] == 0x10));
  // The input fuzz_png found (fuzz/corpus/fuzz_png/crash_pnm_truncated): a 255x255 PGM with 6 bytes of pixels.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_pnm_truncated");
  CHECK(decode(found, im).starts_with("PNM file truncated: 255x255 with 1 band needs 65025 bytes"));
}

TEST_CASE("image decode: a file claiming far more pixels than its bytes can hold is refused before decoding") {
  // Found by fuzz_png (fuzz/corpus/fuzz_png/crash_tga_huge_from_98_bytes): a 98-byte TGA of 55120x2613 that
  // stb_image pads with zeros, seconds of decoding and 576 MB of pixels.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_tga_huge_from_98_bytes");
  Image8 im;
  CHECK(decode_image_bytes(reinterpret_cast<const uint8_t*>(found.data()), found.size(), im) ==
        "the image is 55120x2613 (width x height), 144028560 pixels, in a file of 98 bytes: more than 8256 pixels a "
        "byte, more than any file holds (truncated, or a decompression bomb)");
  CHECK(im.pixels.empty());
  // A top-down BMP (negative height) of 5x16777213 in 67 bytes: stb_image's header reader gives the height as
  // negative, which passed both limits (fuzz/corpus/fuzz_png/crash_bmp_top_down_huge, seconds per decode).
  const std::string bmp = read_file("fuzz/corpus/fuzz_png/crash_bmp_top_down_huge");
  CHECK(decode_image_bytes(reinterpret_cast<const uint8_t*>(bmp.data()), bmp.size(), im)
            .starts_with("the image is 5x16777213 (width x height), 83886065 pixels, in a file of 67 bytes"));
  // A real file of many pixels in few bytes still decodes: a 4096x4096 grey PNG of one level, about 1000 pixels a
  // byte (zlib at level 9).
  const uint32_t side = 4096;
  std::string rows;
  for (uint32_t y = 0; y < side; ++y) rows += '\0' + std::string(side, '\x5a');  // filter type 0, then the row
  std::vector<uint8_t> idat(compressBound(rows.size()));
  uLongf idat_size = idat.size();
  REQUIRE(compress2(idat.data(), &idat_size, reinterpret_cast<const Bytef*>(rows.data()), rows.size(), 9) == Z_OK);
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  auto chunk = [&](const std::string& kind, const std::string& data) {
    const std::string body = kind + data;
    return be32(static_cast<uint32_t>(data.size())) + body +
           be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  };
  const std::string png = "\x89PNG\r\n\x1a\n" + chunk("IHDR", be32(side) + be32(side) + std::string("\x08\0\0\0\0", 5)) +
                          chunk("IDAT", std::string(reinterpret_cast<const char*>(idat.data()), idat_size)) +
                          chunk("IEND", "");
  CAPTURE(png.size());
  CHECK(int64_t{side} * side / static_cast<int64_t>(png.size()) > 500);
  REQUIRE(decode_image_bytes(reinterpret_cast<const uint8_t*>(png.data()), png.size(), im) == "");
  CHECK((im.width == int(side) && im.height == int(side) && im.bands == 3));
  CHECK(std::all_of(im.pixels.begin(), im.pixels.end(), [](uint8_t v) { return v == 0x5a; }));
}

TEST_CASE("image decode: a PNG chunk claiming more bytes than the file has is refused before stb_image allocates them") {
  // Found by fuzz_png (fuzz/corpus/fuzz_png/crash_png_idat_length_past_end): a 55-byte PNG whose IDAT claims
  // 0x7ffffff0 bytes; stb_image 2.27 grew its compressed-data buffer to 2 GiB before finding the bytes missing.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_png_idat_length_past_end");
  Image8 im;
  CHECK(decode_image_bytes(reinterpret_cast<const uint8_t*>(found.data()), found.size(), im) ==
        "PNG file truncated: the chunk 'IDAT' at byte 33 claims 2147483632 bytes of data, the file has 14 left");
  CHECK(im.pixels.empty());
  // The same file with the IDAT's true length and an IEND decodes: one grey pixel of 0x80.
  std::string fixed = found.substr(0, 33) + std::string("\0\0\0\x0a", 4) + found.substr(37) +
                      std::string("\0\0\0\0IEND\xae\x42\x60\x82", 12);
  REQUIRE(decode_image_bytes(reinterpret_cast<const uint8_t*>(fixed.data()), fixed.size(), im) == "");
  CHECK((im.width == 1 && im.height == 1 && im.bands == 3));
  CHECK(im.pixels == std::vector<uint8_t>{0x80, 0x80, 0x80});
}

TEST_CASE("image decode: a 16-bit PGM / PPM decodes to the high bytes of its samples (read in bounds)") {
  // stb_image 2.27 converts a 16-bit PNM's bands with its 8-bit converter and reads past that buffer; the pixels
  // then changed from one decode to the next (found by fuzz_png: fuzz/corpus/fuzz_png/crash_pnm16_band_conversion).
  auto decode = [](const std::string& bytes, Image8& im) {
    return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), im);
  };
  Image8 im;
  REQUIRE(decode(std::string("P6\n2 1\n65535\n") + std::string("\x01\x02\x03\x04\x05\x06\xf0\x00\xe0\x00\xd0\x00", 12), im) == "");
  CHECK((im.width == 2 && im.height == 1 && im.bands == 3));
  CHECK(im.pixels == std::vector<uint8_t>{0x01, 0x03, 0x05, 0xf0, 0xe0, 0xd0});
  REQUIRE(decode(std::string("P5 3 1 1000 ") + std::string("\x7f\xff\x00\x10\xff\x00", 6), im) == "");
  CHECK(im.pixels == std::vector<uint8_t>{0x7f, 0x7f, 0x7f, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff});
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_pnm16_band_conversion");
  REQUIRE(decode(found, im) == "");
  Image8 again;
  for (int i = 0; i < 20; ++i) {
    std::vector<uint8_t> noise(64, static_cast<uint8_t>(i * 37));  // reuses heap blocks between the decodes
    REQUIRE(decode(found, again) == "");
    CHECK(again.pixels == im.pixels);
  }
}

TEST_CASE("image decode: a truncated uncompressed TGA is an error (stb_image would leave the missing pixels uninitialised)") {
  auto decode = [](const std::string& bytes, Image8& im) {
    return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), im);
  };
  // 18-byte header: no ID, no colour map, type 2 (true colour), 3x2, 24 bits, top-left origin; then BGR pixels.
  std::string header(18, '\0');
  header[2] = 2, header[12] = 3, header[14] = 2, header[16] = 24, header[17] = 0x20;
  std::string pixels;
  for (int i = 0; i < 3 * 2 * 3; ++i) pixels += static_cast<char>(10 * i);
  Image8 im;
  REQUIRE(decode(header + pixels, im) == "");
  CHECK((im.width == 3 && im.height == 2 && im.bands == 3));
  CHECK((im.pixels[0] == 20 && im.pixels[1] == 10 && im.pixels[2] == 0));  // BGR stored, RGB decoded
  CHECK(decode(header + pixels.substr(0, 17), im) == "TGA file truncated: 3x2 needs 18 bytes of pixels, the file has 17");
  // The input fuzz_png found (fuzz/corpus/fuzz_png/crash_tga_truncated): 2557x4 at 32 bits in 30 bytes.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_tga_truncated");
  CHECK(decode(found, im).starts_with("TGA file truncated: 2557x4 needs 40912 bytes of pixels"));
  // A header cut before its last byte (fuzz/corpus/fuzz_png/crash_tga_header_cut: 17 bytes, 56x40 at 32 bits).
  CHECK(decode(header.substr(0, 17), im) == "TGA file truncated: 3x2 needs 18 bytes of pixels, the file has 0");
  const std::string cut = read_file("fuzz/corpus/fuzz_png/crash_tga_header_cut");
  CHECK(decode(cut, im) == "TGA file truncated: 56x40 needs 8960 bytes of pixels, the file has 0");
}

TEST_CASE("image decode: a palette BMP must hold all its palette entries (stb_image would use uninitialised ones)") {
  auto decode = [](const std::string& bytes, Image8& im) {
    return decode_image_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), im);
  };
  auto le = [](uint32_t v, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += static_cast<char>(v >> (8 * i));
    return out;
  };
  // A 2x1 1-bit BMP: file header, 40-byte info header, a palette of `entries` colours, one row (padded to 4 bytes).
  auto bmp = [&](int entries) {
    const uint32_t offset = 14 + 40 + 4 * entries;
    std::string palette = std::string("\x00\x00\xff\x00", 4) + std::string("\xff\x00\x00\x00", 4);
    return "BM" + le(offset + 4, 4) + le(0, 4) + le(offset, 4) + le(40, 4) + le(2, 4) + le(1, 4) + le(1, 2) + le(1, 2) +
           le(0, 4) + le(4, 4) + le(0, 4) + le(0, 4) + le(0, 4) + le(0, 4) + palette.substr(0, 4 * entries) +
           std::string("\x40\0\0\0", 4);
  };
  Image8 im;
  REQUIRE(decode(bmp(2), im) == "");
  CHECK(im.pixels == std::vector<uint8_t>{255, 0, 0, 0, 0, 255});  // pixel 0 red (entry 0), pixel 1 blue (entry 1)
  CHECK(decode(bmp(1), im) == "BMP: a 1-bit palette image with 1 palette entries (the pixel data at offset 58): it needs 2");
  // The input fuzz_png found (fuzz/corpus/fuzz_png/crash_bmp_palette_inside_header): its pixel data's offset, 51, lies
  // inside the 54-byte headers, so no palette entry is read; the pixels changed from one decode to the next.
  const std::string found = read_file("fuzz/corpus/fuzz_png/crash_bmp_palette_inside_header");
  CHECK(decode(found, im) == "BMP: a 1-bit palette image with -1 palette entries (the pixel data at offset 51): it needs 2");
}
