// test_augment.cpp: `siglip train --augment crop`: the crop sampler (boxes inside the image, area and aspect ratio in
// range, the whole-image fallback, a function of its seed), the float crop-and-resize of the in-memory sets, both
// loaders with the crop (shapes, value ranges, the same for a seed and any number of workers, other crops in other
// epochs, seek), --augment none unchanged, a resumed --augment crop run bit-identical, --crop-scale's errors, and
// evaluation that never augments.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <set>

#include "error_of.h"
#include "nn/fileio.h"
#include "siglip/augment.h"
#include "siglip/commands.h"
#include "siglip/data.h"
#include "siglip/loader.h"
#include "siglip/run_setup.h"
#include "siglip/shard_loader.h"
#include "siglip/shard_spec.h"
#include "siglip/train.h"
#include "siglip/webdataset.h"
#include "train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::pair<float, float> range_of(const std::vector<float>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return {*lo, *hi};
}

// A packed shapes set: 40 training samples in 4 shards of 10 (PNG, 24 px), 8 test samples.
std::string packed_shapes(const std::string& dir) {
  DataPackOptions p;
  p.data = "shapes:40:8";
  p.out = dir;
  p.shard_size = 10;
  p.image_size = 24;
  REQUIRE(run_data_pack(p) == 0);
  return dir + "/{00000..00003}.tar";
}

std::unique_ptr<ShardLoader> shapes_loader(const std::string& spec, int workers, bool crop) {
  ShardScan scan = scan_shards(shard_paths(spec), false);
  ShardLabels labels = ShardLabels::from(scan.raw_labels, scan.shards.front());
  ShardLoaderOptions o;
  o.batch_size = 8;
  o.text_len = 8;
  o.image_size = 16;
  o.seed = 3;
  o.workers = workers;
  o.shuffle_buffer = 6;
  o.augment.enabled = crop;
  std::vector<std::string> caps;
  for (int i = 0; i < 40; ++i) caps.push_back("a small red circle");
  return std::make_unique<ShardLoader>(std::move(scan), labels, Tokenizer::build(caps, 100),
                                       ImageProcessor::siglip_default(16), o);
}

}  // namespace

TEST_CASE("augment: crop boxes lie inside the image with the area and aspect ratio asked for; a function of the seed") {
  int whole = 0;
  std::set<std::vector<int>> distinct;
  for (uint64_t s = 0; s < 2000; ++s) {
    const int W = 64 + static_cast<int>(s % 50), H = 48 + static_cast<int>(s % 31);
    const CropBox b = sample_crop(W, H, 0.05, 1.0, crop_seed(7, s / 100, s));
    REQUIRE(b.x >= 0);
    REQUIRE(b.y >= 0);
    REQUIRE(b.width >= 1);
    REQUIRE(b.height >= 1);
    REQUIRE(b.x + b.width <= W);
    REQUIRE(b.y + b.height <= H);
    CHECK(b == sample_crop(W, H, 0.05, 1.0, crop_seed(7, s / 100, s)));
    if (b == CropBox{0, 0, W, H}) {
      ++whole;
      continue;
    }
    distinct.insert({b.x, b.y, b.width, b.height});
    const double area = static_cast<double>(b.width) * b.height / (static_cast<double>(W) * H);
    const double ratio = static_cast<double>(b.width) / b.height;
    CHECK(area > 0.05 * 0.8);  // rounding to whole pixels moves the area a little
    CHECK(area < 1.0 + 1e-9);
    CHECK(ratio > 0.75 * 0.85);
    CHECK(ratio < 4.0 / 3.0 / 0.85);
  }
  CHECK(whole < 400);  // large areas of the wrong shape fall back; most draws fit
  CHECK(distinct.size() > 1000);
  // Different epochs and positions draw different boxes.
  CHECK(sample_crop(100, 80, 0.05, 1, crop_seed(1, 0, 5)) != sample_crop(100, 80, 0.05, 1, crop_seed(1, 1, 5)));
  CHECK(sample_crop(100, 80, 0.05, 1, crop_seed(1, 0, 5)) != sample_crop(100, 80, 0.05, 1, crop_seed(1, 0, 6)));
  CHECK(sample_crop(100, 80, 0.05, 1, crop_seed(1, 0, 5)) != sample_crop(100, 80, 0.05, 1, crop_seed(2, 0, 5)));
  // No box of the whole area fits a 100x10 strip at ratios 3/4..4/3: after 10 tries, the whole image.
  for (uint64_t s = 0; s < 20; ++s) CHECK(sample_crop(100, 10, 1.0, 1.0, s) == CropBox{0, 0, 100, 10});
  // --crop-scale 1,1 on a square image: the whole image or nearly (ratio within [3/4, 4/3] but area 1).
  const CropBox full = sample_crop(50, 50, 1.0, 1.0, 9);
  CHECK(full.width * full.height >= 2401);
}

TEST_CASE("augment: the float crop resizes the box back to the image's size, values within the input's range") {
  const int C = 2, H = 6, W = 8;
  std::vector<float> img(static_cast<size_t>(C) * H * W);
  for (size_t i = 0; i < img.size(); ++i) img[i] = static_cast<float>(i % W) - static_cast<float>((i / W) % H) * 0.5f;
  CHECK(crop_resize_chw(img, C, H, W, {0, 0, W, H}) == img);
  const std::vector<float> out = crop_resize_chw(img, C, H, W, {2, 1, 4, 3});
  REQUIRE(out.size() == img.size());
  const auto [lo, hi] = range_of(out);
  CHECK(lo >= 2 - 3 * 0.5f - 1e-6f);  // the box's columns 2..5, rows 1..3
  CHECK(hi <= 5 - 1 * 0.5f + 1e-6f);
  // Bilinear in x and y: a linear image stays linear; the output's first column samples x = 2 + 0.25 - 0.5 -> 2.
  CHECK(out[0] == doctest::Approx(2 - 0.5 * 1.0));  // row: 1 + (0.5 * 3 / 6) - 0.5 = 0.75 -> clamped at 1 (box row 0)
  CHECK(error_of([&] { crop_resize_chw(img, C, H, W, {5, 0, 4, 3}); }) ==
        "crop: box 4x3 at (5, 0) does not lie inside the 8x6 image");
  // A constant image stays constant.
  const std::vector<float> flat(img.size(), 0.25f);
  for (float v : crop_resize_chw(flat, C, H, W, {1, 1, 3, 2})) CHECK(v == 0.25f);
}

TEST_CASE("augment: --crop-scale must be MIN,MAX with 0 < MIN <= MAX <= 1; errors name the option") {
  CHECK(parse_crop_scale("0.05,1") == std::pair<double, double>{0.05, 1.0});
  CHECK(parse_crop_scale("0.3,0.3") == std::pair<double, double>{0.3, 0.3});
  CHECK(error_of([] { parse_crop_scale("0.5"); }) ==
        "train: --crop-scale '0.5': expected MIN,MAX, two area fractions such as 0.05,1");
  CHECK(error_of([] { parse_crop_scale("a,1"); }) ==
        "train: --crop-scale 'a,1': expected MIN,MAX, two area fractions such as 0.05,1");
  CHECK(error_of([] { parse_crop_scale("0,1"); }) ==
        "train: --crop-scale '0,1': the area fractions must satisfy 0 < MIN <= MAX <= 1 (got 0 and 1)");
  CHECK(error_of([] { parse_crop_scale("0.8,0.2"); }) ==
        "train: --crop-scale '0.8,0.2': the area fractions must satisfy 0 < MIN <= MAX <= 1 (got 0.8 and 0.2)");
  CHECK(error_of([] { parse_crop_scale("0.1,1.5"); }) ==
        "train: --crop-scale '0.1,1.5': the area fractions must satisfy 0 < MIN <= MAX <= 1 (got 0.1 and 1.5)");
  TrainOptions o = tiny_run(temp_dir("crop_scale_error"));
  o.augment = Augment::Crop;
  o.crop_scale = "1,0.5";
  CHECK(error_of([&] { train(o); }) ==
        "train: --crop-scale '1,0.5': the area fractions must satisfy 0 < MIN <= MAX <= 1 (got 1 and 0.5)");
  CHECK(!fs::exists(o.out + "/latest"));
}

TEST_CASE("augment: the in-memory loader crops per example: deterministic, other crops each epoch, none unchanged") {
  const Dataset d = make_shapes(16, 0, 16, 4);
  const Tokenizer tok = Tokenizer::build({"a small red circle"});
  CropAugment crop;
  crop.enabled = true;
  BatchLoader plain(d.train, tok, 8, 6, 3, 16, 16, 11), a(d.train, tok, 8, 6, 3, 16, 16, 11, 2, crop),
      b(d.train, tok, 8, 6, 3, 16, 16, 11, 1, crop);
  const std::vector<uint32_t> order0 = plain.epoch_order(0), order1 = plain.epoch_order(1);
  std::vector<std::vector<float>> crops_of_example(16);
  for (int i = 0; i < 4; ++i) {  // two epochs of two batches
    const Batch p = plain.next(), x = a.next(), y = b.next();
    CHECK(x.images.shape() == Shape{8, 3, 16, 16});
    CHECK(x.images.to_vector<float>() == y.images.to_vector<float>());
    CHECK(x.captions == p.captions);
    const std::vector<float> px = p.images.to_vector<float>(), cx = x.images.to_vector<float>();
    const auto [lo, hi] = range_of(cx);
    CHECK(lo >= -1.0f);
    CHECK(hi <= 1.0f);
    const size_t numel = 3 * 16 * 16;
    for (size_t k = 0; k < 8; ++k) {
      const uint32_t example = (i < 2 ? order0 : order1)[static_cast<size_t>(i % 2) * 8 + k];
      // --augment none: the stored image, as before.
      CHECK(std::equal(px.begin() + k * numel, px.begin() + (k + 1) * numel, d.train[example].image.begin()));
      std::vector<float> c(cx.begin() + k * numel, cx.begin() + (k + 1) * numel);
      if (i >= 2) CHECK(c != crops_of_example[example]);  // epoch 1's crop of the example differs from epoch 0's
      crops_of_example[example] = std::move(c);
    }
  }
  // seek: the same batches again.
  a.seek({1, 1});
  b.seek({1, 0});
  b.next();
  CHECK(a.next().images.to_vector<float>() == b.next().images.to_vector<float>());
}

TEST_CASE("augment: the streaming loader crops before the resize: same for any workers, seek, other epochs differ") {
  const std::string dir = temp_dir("augment_stream");
  const std::string spec = packed_shapes(dir);
  auto one = shapes_loader(spec, 1, true), three = shapes_loader(spec, 3, true), plain = shapes_loader(spec, 2, false);
  std::vector<std::vector<float>> seen;
  BatchSource::Position at2;
  int differ = 0;
  for (int i = 0; i < 10; ++i) {  // two epochs and a half of 5 batches
    if (i == 2) at2 = one->position();
    const Batch x = one->next(), p = plain->next();
    CHECK(x.images.shape() == Shape{8, 3, 16, 16});
    seen.push_back(x.images.to_vector<float>());
    CHECK(three->next().images.to_vector<float>() == seen.back());
    CHECK(x.captions == p.captions);  // the crop does not change the order
    const auto [lo, hi] = range_of(seen.back());
    CHECK(lo >= -1.0f);
    CHECK(hi <= 1.0f);
    differ += seen.back() != p.images.to_vector<float>();
  }
  CHECK(differ == 10);
  auto resumed = shapes_loader(spec, 2, true);
  resumed->seek(at2);
  for (int i = 2; i < 10; ++i) CHECK(resumed->next().images.to_vector<float>() == seen[static_cast<size_t>(i)]);
  fs::remove_all(dir);
}

TEST_CASE("augment: a run with --augment crop interrupted by --steps and resumed ends with the same weights") {
  const std::string dir = temp_dir("augment_resume");
  const std::string spec = packed_shapes(dir + "/shards");
  for (const std::string& data : {spec, std::string("shapes:40:8")}) {
    const std::string name = is_shard_spec(data) ? "/shards_" : "/shapes_";
    TrainOptions o = tiny_run("");
    o.data = data;
    o.eval_data = is_shard_spec(data) ? dir + "/shards/test/00000.tar" : "";
    o.augment = Augment::Crop;
    o.crop_scale = "0.3,1";
    o.shuffle_buffer = 10;
    o.warmup = 3;
    // 40 samples: 5 batches an epoch, so the runs cross an epoch; the resumed part decodes with 3 workers.
    const WholeAndResumed r = train_whole_and_resumed(o, dir + name, 3, 7, 3);
    CHECK(r.whole.size() > 1000);
    CHECK(r.whole == r.resumed);
    CHECK(read_file(dir + name + "/parts/step-000007/trainer_state.json").find("\"augment\": \"crop\"") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("augment: evaluation never augments: the test split is the data set's own images") {
  TrainOptions o = tiny_run(temp_dir("augment_eval"));
  o.augment = Augment::Crop;
  o.eval = true;
  RunSetup setup(o);
  const Dataset d = load_dataset(o.data, 16, 0, o.seed);
  REQUIRE(setup.data.test.size() == d.test.size());
  for (size_t i = 0; i < d.test.size(); ++i) CHECK(setup.data.test[i].image == d.test[i].image);
}
