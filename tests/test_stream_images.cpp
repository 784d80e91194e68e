// test_stream_images.cpp: how the streaming loader prepares images: 8-bit results turned into the float batch when it
// is assembled give exactly ImageProcessor::process's values (RGB and grey, PNG and JPEG); batch buffers come back
// from the caching allocator; scaled JPEG decoding (the default of training) picks the smallest libjpeg scale that
// covers the model's size and stays close to a full-size decode, and is off with --exact-decode.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <cmath>
#include <filesystem>

#include "siglip/shard_loader.h"
#include "nn/fileio.h"
#include "siglip/shard_spec.h"
#include "siglip/trainer_state.h"
#include "siglip/webdataset.h"
#include "tensor/allocator.h"
#include "train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

// A photo-like w x h image: a smooth gradient with a few hard edges and some noise.
std::vector<uint8_t> photo(int w, int h, int seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  uint32_t state = 12345u + static_cast<uint32_t>(seed) * 7919u;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        state = state * 1664525u + 1013904223u;
        const int edge = ((x / (w / 5 + 1)) + (y / (h / 3 + 1)) + seed) % 2 ? 60 : 0;
        const int v = (x * 255 / w + y * 128 / h + c * 40 + edge + static_cast<int>(state >> 29)) % 256;
        px[(static_cast<size_t>(y) * w + x) * 3 + c] = static_cast<uint8_t>(v);
      }
  return px;
}

std::vector<uint8_t> encode(const std::vector<uint8_t>& px, int w, int h, bool jpeg) {
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* d, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(d), static_cast<uint8_t*>(d) + n);
  };
  if (jpeg) stbi_write_jpg_to_func(sink, &out, w, h, 3, px.data(), 90);
  else stbi_write_png_to_func(sink, &out, w, h, 3, px.data(), w * 3);
  return out;
}

// One shard of `n` samples alternating JPEG and PNG, w x h (w + k for sample k, so sizes differ).
std::string photo_shard(const std::string& dir, int n, int w, int h) {
  fs::create_directories(dir);
  ShardWriter writer(dir + "/p.tar");
  for (int k = 0; k < n; ++k) {
    const bool jpeg = k % 2 == 0;
    const std::vector<uint8_t> bytes = encode(photo(w + k, h, k), w + k, h, jpeg);
    writer.add(fmt::format("{:03d}.{}", k, jpeg ? "jpg" : "png"), bytes.data(), bytes.size());
    writer.add(fmt::format("{:03d}.txt", k), fmt::format("photo {}", k));
  }
  writer.close();
  return dir + "/p.tar";
}

ShardLoaderOptions options(int channels, int size, bool scaled) {
  ShardLoaderOptions o;
  o.batch_size = 4;
  o.text_len = 4;
  o.channels = channels;
  o.image_size = size;
  o.seed = 1;
  o.workers = 2;
  o.shuffle_buffer = 1;
  o.scaled_decode = scaled;
  return o;
}

std::unique_ptr<ShardLoader> loader(const std::string& shard, const ShardLoaderOptions& o) {
  ShardScan scan = scan_shards({shard}, false);
  return std::make_unique<ShardLoader>(std::move(scan), ShardLabels{}, Tokenizer::build({"photo 1"}, 50),
                                       ImageProcessor::siglip_default(o.image_size), o);
}

// The samples of `shard` by caption.
std::map<std::string, ShardSample> by_caption(const std::string& shard) {
  std::map<std::string, ShardSample> out;
  ShardReader r(shard);
  ShardSample s;
  while (r.next(s)) out[s.caption] = s;
  return out;
}

}  // namespace

TEST_CASE("stream images: the float batch made from 8-bit results is ImageProcessor::process's output, exactly") {
  const std::string dir = temp_dir("stream_exact");
  const std::string shard = photo_shard(dir, 8, 61, 45);
  const auto samples = by_caption(shard);
  for (int channels : {3, 1}) {
    auto l = loader(shard, options(channels, 24, false));
    const ImageProcessor processor = ImageProcessor::siglip_default(24);
    for (int b = 0; b < 2; ++b) {
      const Batch batch = l->next();
      REQUIRE(batch.images.shape() == Shape{4, channels, 24, 24});
      const std::vector<float> got = batch.images.to_vector<float>();
      const size_t numel = static_cast<size_t>(channels) * 24 * 24;
      for (size_t k = 0; k < 4; ++k) {
        const ShardSample& s = samples.at(batch.captions[k]);
        Image8 decoded;
        REQUIRE(decode_image_memory(s.image, decoded) == "");
        const PixelValues want = processor.process(decoded, channels);
        REQUIRE(want.data.size() == numel);
        CHECK(std::equal(want.data.begin(), want.data.end(), got.begin() + k * numel));
      }
    }
  }
  fs::remove_all(dir);
}

TEST_CASE("stream images: batch tensors reuse the caching allocator's blocks; no fresh allocation per batch") {
  const std::string dir = temp_dir("stream_reuse");
  const std::string shard = photo_shard(dir, 8, 40, 30);
  auto l = loader(shard, options(3, 16, true));
  for (int i = 0; i < 3; ++i) l->next();  // warm the free lists
  const uint64_t before = allocator_stats(Device::CPU).fresh_allocs;
  for (int i = 0; i < 20; ++i) {
    const Batch b = l->next();
    CHECK(b.images.shape() == Shape{4, 3, 16, 16});
  }
  const uint64_t fresh = allocator_stats(Device::CPU).fresh_allocs - before;
  MESSAGE("fresh host allocations over 20 batches: " << fresh);
#if defined(__SANITIZE_ADDRESS__)
  CHECK(fresh >= 20);  // sanitizer builds turn the cache off (tensor/allocator.h): each batch allocates anew
#else
  CHECK(fresh <= 2);
#endif
  fs::remove_all(dir);
}

TEST_CASE("stream images: scaled JPEG decoding covers the model's size and stays close to a full-size decode") {
  DecodeOptions to64;
  to64.min_width = to64.min_height = 64;
  CHECK(jpeg_scale_for(1024, 768, to64).denominator == 8);  // 128x96 still covers 64x64
  DecodeOptions to224;
  to224.min_width = to224.min_height = 224;
  const JpegScale s = jpeg_scale_for(1024, 768, to224);
  CHECK(s.denominator == 2);  // 1/4 would be 256x192: rows too few
  CHECK(s.width == 512);
  CHECK(s.height == 384);
  CHECK(jpeg_scale_for(200, 300, to224).denominator == 1);

  const std::string dir = temp_dir("stream_scaled");
  const std::string shard = photo_shard(dir, 8, 300, 260);  // for 64 px the JPEGs decode at 1/4 (75x65 and up)
  auto scaled = loader(shard, options(3, 64, true)), exact = loader(shard, options(3, 64, false));
  double sum = 0, worst = 0;
  size_t count = 0;
  int png_equal = 0;
  for (int b = 0; b < 2; ++b) {
    const Batch x = scaled->next(), y = exact->next();
    REQUIRE(x.captions == y.captions);
    const std::vector<float> a = x.images.to_vector<float>(), c = y.images.to_vector<float>();
    const size_t numel = 3 * 64 * 64;
    for (size_t k = 0; k < 4; ++k) {
      const int index = std::stoi(x.captions[k].substr(6));
      const bool jpeg = index % 2 == 0;
      const bool same = std::equal(a.begin() + k * numel, a.begin() + (k + 1) * numel, c.begin() + k * numel);
      if (!jpeg) {
        png_equal += same;  // other formats ignore the scale
        continue;
      }
      CHECK(!same);
      for (size_t i = k * numel; i < (k + 1) * numel; ++i) {
        const double d = std::abs(a[i] - c[i]) * 127.5;  // in 8-bit levels
        sum += d;
        worst = std::max(worst, d);
        ++count;
      }
    }
  }
  CHECK(png_equal == 4);
  const double mean = sum / static_cast<double>(count);
  MESSAGE("scaled against full-size decode, 300x260 JPEGs to 64 px: mean " << mean << " levels, max " << worst);
  // The test images wrap around from 255 to 0 along lines (the hardest edges there are): the largest differences sit
  // there; a decode at the wrong scale or place differs by tens of levels on average.
  CHECK(mean < 4.0);
  CHECK(worst < 128.0);
  fs::remove_all(dir);
}

TEST_CASE("stream images: a run saved before scaled decoding existed resumes decoding at full size") {
  const std::string dir = temp_dir("state_before_streaming");
  fs::create_directories(dir);
  write_file_atomic(dir + "/trainer_state.json",
                    R"({"step": 3, "optimizer_steps": 3, "loader": {"epoch": 0, "index": 3},
                        "options": {"data": "shards/{0..3}.tar", "steps": 6}})");
  const TrainerState old = TrainerState::load(dir);
  CHECK(old.before_streaming);
  CHECK(old.options.exact_decode);
  TrainerState now = old;
  now.options.exact_decode = false;
  write_file_atomic(dir + "/trainer_state.json", now.to_json());
  const TrainerState again = TrainerState::load(dir);
  CHECK(!again.before_streaming);
  CHECK(!again.options.exact_decode);
  fs::remove_all(dir);
}
