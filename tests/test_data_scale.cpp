// Flat memory: a training run streaming 10,000 samples from shards has the peak RSS of the same run on 1,000
// (within 10%). Decoding the data set into memory, as the in-memory sets do, would add 12 KB a sample at 32 px
// (110 MB between the two), so this fails if the streaming loader, the scan or the tokenizer held the data.
// Timing (start-up) is a benchmark's to measure: scripts/bench_data_scale.py.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <regex>

#include "siglip/webdataset.h"
#include "siglip_run.h"
#include "train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> noise_png(int side, uint32_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(side) * side * 3);
  for (uint8_t& v : px) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  std::vector<uint8_t> out;
  stbi_write_png_to_func([](void* ctx, void* d, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(d), static_cast<uint8_t*>(d) + n);
  }, &out, side, side, 3, px.data(), side * 3);
  return out;
}

// `samples` samples in shards of 500: 32x32 PNGs (64 distinct ones), captions from 40 phrases (the tokenizer is
// the same for both sizes). Returns the brace spec.
std::string write_set(const std::string& dir, int samples) {
  fs::create_directories(dir);
  std::vector<std::vector<uint8_t>> pngs;
  for (uint32_t i = 0; i < 64; ++i) pngs.push_back(noise_png(32, i + 1));
  const int shards = samples / 500;
  for (int s = 0; s < shards; ++s) {
    ShardWriter w(fmt::format("{}/{:03d}.tar", dir, s));
    for (int k = s * 500; k < (s + 1) * 500; ++k) {
      const std::string key = fmt::format("{:06d}", k);
      const std::vector<uint8_t>& png = pngs[static_cast<size_t>(k) % pngs.size()];
      w.add(key + ".png", png.data(), png.size());
      w.add(key + ".txt", fmt::format("a noise picture number {}", k % 40));
    }
    w.close();
  }
  return fmt::format("{}/{{000..{:03d}}}.tar", dir, shards - 1);
}

double peak_rss_mb(const std::string& spec, const std::string& out) {
  const SiglipRun r = run_siglip("train --data '" + spec + "' --config micro --image-size 32 --batch 16 --steps 2 "
                                 "--no-eval --workers 2 --threads 1 --out " + out);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  std::smatch m;
  REQUIRE_MESSAGE(std::regex_search(r.output, m, std::regex("peak RSS ([0-9]+) MB")), r.output);
  return std::stod(m[1]);
}

}  // namespace

TEST_CASE("data scale: streaming 10,000 samples from shards takes the peak memory of 1,000 (within 10%)") {
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("skipped under AddressSanitizer: its quarantine keeps freed memory, so RSS grows with the bytes read");
  return;
#endif
  const std::string dir = temp_dir("data_scale");
  const std::string small = write_set(dir + "/1000", 1000), large = write_set(dir + "/10000", 10000);
  const double small_mb = peak_rss_mb(small, dir + "/run-small"), large_mb = peak_rss_mb(large, dir + "/run-large");
  MESSAGE("peak RSS: 1,000 samples " << small_mb << " MB, 10,000 samples " << large_mb << " MB");
  CHECK(large_mb < 1.10 * small_mb);
  fs::remove_all(dir);
}
