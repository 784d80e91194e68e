// cmd_preprocess.cpp: `siglip preprocess (--checkpoint DIR | --processor FILE | --image-size N) IMAGE... --out F`:
// the pixel values a model gets for image files (siglip/image_processor.h), as f32 "pixel_values" [N, C, H, W],
// the tensor transformers' SiglipImageProcessor returns for the same files.
#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/checkpoint.h"
#include "siglip/commands.h"
#include "siglip/image_processor.h"

namespace sg {
namespace {

struct Preparation {
  ImageProcessor processor;
  int64_t channels = 3;
  std::string source;  // where the processor came from, for the summary line
};

Preparation preparation_of(const PreprocessOptions& o) {
  SG_CHECK(o.checkpoint.empty() || o.processor.empty(), "preprocess: give --checkpoint DIR or --processor FILE, not both");
  SG_CHECK(o.checkpoint.empty() || o.image_size == 0,
           "preprocess: --image-size: the checkpoint's image size is used with --checkpoint");
  SG_CHECK(!o.checkpoint.empty() || !o.processor.empty() || o.image_size > 0,
           "preprocess: say how to prepare the images: --checkpoint DIR, --processor FILE or --image-size N");
  SG_CHECK(o.image_size >= 0 && o.image_size <= 65536, "preprocess: --image-size must lie in [1, 65536], got {}",
           o.image_size);
  SG_CHECK(o.channels == 0 || o.channels == 1 || o.channels == 3, "preprocess: --channels must be 1 or 3, got {}",
           o.channels);
  Preparation p;
  p.channels = o.channels == 0 ? 3 : o.channels;
  if (!o.checkpoint.empty()) {
    const std::string dir = resolve_checkpoint(o.checkpoint);
    const SiglipConfig cfg = SiglipConfig::load(dir + "/config.json");
    SG_CHECK(o.channels == 0 || o.channels == cfg.vision.num_channels,
             "preprocess: --channels {}: checkpoint {} takes {}-channel images", o.channels, dir,
             cfg.vision.num_channels);
    p.channels = cfg.vision.num_channels;
    std::string note;
    p.processor = checkpoint_image_processor(dir, cfg, &note);
    if (!note.empty()) fmt::print(stderr, "preprocess: note: {}\n", note);
    p.source = file_exists(dir + "/preprocessor_config.json") ? dir + "/preprocessor_config.json"
                                                              : "the default of checkpoint " + dir;
  } else if (!o.processor.empty()) {
    p.processor = ImageProcessor::from_json(o.processor);
    if (o.image_size > 0) p.processor.fit_to_model(o.image_size, p.channels, o.processor);
    else p.processor.check_channels(p.channels, o.processor);
    p.source = o.processor;
  } else {
    p.processor = ImageProcessor::siglip_default(o.image_size);
    p.source = "the default";
  }
  return p;
}

}  // namespace

int run_preprocess(const PreprocessOptions& o) {
  SG_CHECK(!o.out.empty(), "preprocess: --out FILE.safetensors is required");
  SG_CHECK(!o.images.empty(), "preprocess: no images given");
  const Preparation prep = preparation_of(o);

  std::vector<PixelValues> images(o.images.size());
  std::vector<std::string> errors(o.images.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < static_cast<int64_t>(o.images.size()); ++i) {
    try {
      images[i] = prep.processor.load(o.images[i], static_cast<int>(prep.channels));
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  }
  for (const std::string& e : errors)
    if (!e.empty()) fail("preprocess: {}", e);
  const PixelValues& first = images[0];
  for (size_t i = 1; i < images.size(); ++i)
    SG_CHECK(images[i].height == first.height && images[i].width == first.width,
             "preprocess: '{}' comes out {}x{} but '{}' {}x{} (height x width; do_resize is false): images of one "
             "batch need one size",
             o.images[i], images[i].height, images[i].width, o.images[0], first.height, first.width);

  const int64_t n = static_cast<int64_t>(images.size()), per = static_cast<int64_t>(first.data.size());
  Tensor x = Tensor::empty({n, first.channels, first.height, first.width});  // [N, C, H, W]
  for (int64_t i = 0; i < n; ++i) std::copy(images[i].data.begin(), images[i].data.end(), x.data<float>() + i * per);
  save_safetensors(o.out, {{"pixel_values", x}},
                   {{"inputs", nlohmann::json(o.images).dump()},
                    {"image_processor", prep.processor.to_json().dump()}});
  fmt::print("wrote pixel_values [{}, {}, {}, {}] to {} ({}: {})\n", n, first.channels, first.height, first.width,
             o.out, prep.source, prep.processor.describe());
  return 0;
}

}  // namespace sg
