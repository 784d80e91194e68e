// image_processor.cpp: preprocessor_config.json read and written, and the SiglipImageProcessor pipeline
// (see image_processor.h; the resize itself is in image_resample.cpp).
#include "siglip/image_processor.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "nn/fileio.h"

namespace sg {
namespace {

using json = nlohmann::json;

// The image_processor_type values of SigLIP's processors (the slow, PIL and fast classes).
bool is_siglip_type(const std::string& t) {
  return t == "SiglipImageProcessor" || t == "SiglipImageProcessorPil" || t == "SiglipImageProcessorFast";
}

bool present(const json& j, const char* key) { return j.contains(key) && !j.at(key).is_null(); }

bool bool_field(const json& j, const std::string& source, const char* key, bool fallback) {
  if (!present(j, key)) return fallback;
  SG_CHECK(j.at(key).is_boolean(), "image processor: {}: {} must be true or false, got {}", source, key,
           j.at(key).dump());
  return j.at(key).get<bool>();
}

double number_of(const json& v, const std::string& source, const std::string& field) {
  SG_CHECK(v.is_number(), "image processor: {}: {} must be a number, got {}", source, field, v.dump());
  const double x = v.get<double>();
  SG_CHECK(std::isfinite(x), "image processor: {}: {} must be finite, got {}", source, field, v.dump());
  return x;
}

// image_mean / image_std: one number (every channel) or one per RGB channel.
std::vector<double> channel_values(const json& j, const std::string& source, const char* key,
                                   const std::vector<double>& fallback) {
  if (!present(j, key)) return fallback;
  const json& v = j.at(key);
  if (v.is_number()) return std::vector<double>(3, number_of(v, source, key));
  SG_CHECK(v.is_array(), "image processor: {}: {} must be a number or a list of 3 numbers (R, G, B), got {}", source,
           key, v.dump());
  SG_CHECK(v.size() == 3, "image processor: {}: {} has {} value{} but images have 3 channels (R, G, B): {}", source,
           key, v.size(), v.size() == 1 ? "" : "s", v.dump());
  std::vector<double> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(number_of(v[i], source, fmt::format("{}[{}]", key, i)));
  return out;
}

int64_t positive_int(const json& v, const std::string& source, const std::string& field) {
  SG_CHECK(v.is_number_integer() && v.get<int64_t>() > 0 && v.get<int64_t>() <= (1 << 16),
           "image processor: {}: {} must be a positive integer (at most 65536), got {}", source, field, v.dump());
  return v.get<int64_t>();
}

float to_float_pixel(uint8_t v, const ImageProcessor& p, int channel) {
  // transformers: rescale = float32(float64(v) * factor); normalize = (x - float32(mean)) / float32(std) in float32
  float x = p.do_rescale ? static_cast<float>(static_cast<double>(v) * p.rescale_factor) : static_cast<float>(v);
  if (p.do_normalize)
    x = (x - static_cast<float>(p.image_mean[channel])) / static_cast<float>(p.image_std[channel]);
  return x;
}

}  // namespace

ImageProcessor ImageProcessor::siglip_default(int64_t image_size) {
  ImageProcessor p;
  p.height = p.width = image_size;
  return p;
}

ImageProcessor ImageProcessor::from_json(const std::string& path) {
  SG_CHECK(file_exists(path), "image processor: {}: file not found", path);
  json j;
  try {
    j = json::parse(read_file(path));
  } catch (const json::parse_error& e) {
    fail("image processor: {}: malformed JSON at byte {}: {}", path, e.byte, e.what());
  }
  return from_json_value(j, path);
}

ImageProcessor ImageProcessor::from_json_value(const json& j, const std::string& source) {
  SG_CHECK(j.is_object(), "image processor: {}: expected a JSON object, got {}", source, j.type_name());
  if (present(j, "image_processor_type")) {
    const json& t = j.at("image_processor_type");
    SG_CHECK(t.is_string() && is_siglip_type(t.get<std::string>()),
             "image processor: {}: image_processor_type is {}: only SigLIP's (SiglipImageProcessor, "
             "SiglipImageProcessorPil, SiglipImageProcessorFast) is supported",
             source, t.dump());
  }
  for (const char* unsupported : {"do_center_crop", "do_pad"})
    SG_CHECK(!bool_field(j, source, unsupported, false),
             "image processor: {}: {} is true: SigLIP's processor has no such step and it is not supported", source,
             unsupported);

  ImageProcessor p;
  p.do_resize = bool_field(j, source, "do_resize", p.do_resize);
  p.do_rescale = bool_field(j, source, "do_rescale", p.do_rescale);
  p.do_normalize = bool_field(j, source, "do_normalize", p.do_normalize);
  p.do_convert_rgb = bool_field(j, source, "do_convert_rgb", p.do_convert_rgb);
  if (present(j, "size")) {
    const json& s = j.at("size");
    SG_CHECK(s.is_object() && s.contains("height") && s.contains("width"),
             "image processor: {}: size must be {{\"height\": H, \"width\": W}} (other forms such as shortest_edge "
             "are not SigLIP's), got {}",
             source, s.dump());
    for (auto it = s.begin(); it != s.end(); ++it)
      SG_CHECK(it.key() == "height" || it.key() == "width" || it.value().is_null(),
               "image processor: {}: size.{} is not supported (size must be {{\"height\": H, \"width\": W}}), got {}",
               source, it.key(), s.dump());
    p.height = positive_int(s.at("height"), source, "size.height");
    p.width = positive_int(s.at("width"), source, "size.width");
  }
  if (present(j, "resample")) {
    const json& r = j.at("resample");
    SG_CHECK(r.is_number_integer(), "image processor: {}: resample must be an integer (PIL's resampling filter), got {}",
             source, r.dump());
    const int64_t v = r.get<int64_t>();
    SG_CHECK(v >= 1 && v <= 5 && !resample_name(static_cast<int>(v)).empty(),
             "image processor: {}: resample is {}: supported are 1 (lanczos), 2 (bilinear), 3 (bicubic, SigLIP's), "
             "4 (box), 5 (hamming){}",
             source, r.dump(), v == 0 ? "; 0 (nearest) is not" : "");
    p.resample = static_cast<Resample>(v);
  }
  if (present(j, "rescale_factor")) p.rescale_factor = number_of(j.at("rescale_factor"), source, "rescale_factor");
  p.image_mean = channel_values(j, source, "image_mean", p.image_mean);
  p.image_std = channel_values(j, source, "image_std", p.image_std);
  for (size_t c = 0; c < p.image_std.size(); ++c)
    SG_CHECK(p.image_std[c] != 0.0, "image processor: {}: image_std[{}] is 0: normalising divides by it", source, c);
  return p;
}

json ImageProcessor::to_json() const {
  return {{"do_convert_rgb", do_convert_rgb},
          {"do_normalize", do_normalize},
          {"do_rescale", do_rescale},
          {"do_resize", do_resize},
          {"image_mean", image_mean},
          {"image_processor_type", "SiglipImageProcessor"},
          {"image_std", image_std},
          {"resample", static_cast<int>(resample)},
          {"rescale_factor", rescale_factor},
          {"size", {{"height", height}, {"width", width}}}};
}

void ImageProcessor::check_channels(int64_t channels, const std::string& source) const {
  SG_CHECK(channels == 1 || channels == 3, "image processor: {}: the model has {} channels; 1 or 3 are supported",
           source, channels);
  if (channels == 3) return;
  for (const auto* values : {&image_mean, &image_std})
    SG_CHECK((*values)[0] == (*values)[1] && (*values)[1] == (*values)[2],
             "image processor: {}: {} is {} but the model is grey (1 channel): it needs one value (a number, or "
             "three equal ones)",
             source, values == &image_mean ? "image_mean" : "image_std", json(*values).dump());
}

std::string ImageProcessor::fit_to_model(int64_t image_size, int64_t channels, const std::string& source) {
  check_channels(channels, source);
  std::string note;
  if (do_resize && (height != image_size || width != image_size))
    note = fmt::format("{} resizes to {}x{} (height x width) but the model takes {}x{} images: they are resized to "
                       "{}x{}",
                       source, height, width, image_size, image_size, image_size, image_size);
  height = width = image_size;  // without do_resize: the size the images must already have
  return note;
}

Image8 ImageProcessor::prepare8(const Image8& image, int channels, const CropBox* crop) const {
  SG_CHECK(image.bands == 3 || image.bands == 4, "image processor: expected an RGB or RGBA image, got {} bands",
           image.bands);
  SG_CHECK(channels == 1 || channels == 3, "image processor: channels must be 1 or 3, got {}", channels);
  const Image8 cropped = crop ? crop_image8(image, *crop) : Image8{};
  const Image8& in = crop ? cropped : image;
  Image8 rgb;
  if (in.bands == 4 && do_convert_rgb) {
    rgb = composite_on_white(in);
  } else if (in.bands == 4) {  // alpha dropped
    rgb = {in.width, in.height, 3, std::vector<uint8_t>(static_cast<size_t>(in.width) * in.height * 3)};
    for (size_t i = 0; i < rgb.pixels.size() / 3; ++i)
      for (int c = 0; c < 3; ++c) rgb.pixels[3 * i + c] = in.pixels[4 * i + c];
  } else {
    rgb = in;
  }
  if (do_resize || crop) rgb = resize_like_pillow(rgb, static_cast<int>(width), static_cast<int>(height), resample);
  if (channels == 3) return rgb;
  Image8 grey{rgb.width, rgb.height, 1, std::vector<uint8_t>(static_cast<size_t>(rgb.width) * rgb.height)};
  for (size_t i = 0; i < grey.pixels.size(); ++i) {  // ITU-R 601 luma of the resized RGB, rounded to 8 bits
    const uint8_t* px = &rgb.pixels[3 * i];
    grey.pixels[i] = static_cast<uint8_t>(std::round(0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2]));
  }
  return grey;
}

void ImageProcessor::to_pixels(const Image8& prepared, float* out) const {
  const int channels = prepared.bands;
  SG_CHECK(channels == 1 || channels == 3, "image processor: a prepared image has 1 or 3 bands, got {}", channels);
  // The 256 values each band can take, computed once: the same float32 arithmetic as transformers'.
  float table[3][256];
  for (int c = 0; c < channels; ++c)
    for (int v = 0; v < 256; ++v) table[c][v] = to_float_pixel(static_cast<uint8_t>(v), *this, c);
  const size_t hw = static_cast<size_t>(prepared.width) * prepared.height;
  for (size_t i = 0; i < hw; ++i)
    for (int c = 0; c < channels; ++c) out[c * hw + i] = table[c][prepared.pixels[i * channels + c]];
}

PixelValues ImageProcessor::process(const Image8& image, int channels) const {
  const Image8 prepared = prepare8(image, channels);
  PixelValues out{channels, prepared.height, prepared.width, {}};
  out.data.resize(static_cast<size_t>(channels) * prepared.width * prepared.height);
  to_pixels(prepared, out.data.data());
  return out;
}

PixelValues ImageProcessor::load(const std::string& path, int channels) const {
  Image8 image;
  const std::string why = decode_image_file(path, image);
  SG_CHECK(why.empty(), "image: cannot decode '{}': {}", path, why);
  return process(image, channels);
}

std::string ImageProcessor::describe() const {
  std::string s = do_resize ? fmt::format("{} resize to {}x{}", resample_name(static_cast<int>(resample)), height, width)
                            : "no resize";
  if (do_rescale) s += fmt::format(", rescale x{:.6g}", rescale_factor);
  if (do_normalize) s += fmt::format(", normalize mean {} std {}", json(image_mean).dump(), json(image_std).dump());
  return s;
}

}  // namespace sg
