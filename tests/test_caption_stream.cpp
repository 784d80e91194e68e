// test_caption_stream.cpp: `siglip train` on a .tsv / .jsonl caption file streams it: the records are read (no
// pixels), the workers decode each image when its turn comes; the test split (every tenth line) is never trained on;
// the order is a function of the seed (not of the workers) and seek resumes it; a resumed run ends with the same
// weights; bad images and malformed lines stop the run naming file:line, or (--on-bad-sample skip) are counted.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>

#include <filesystem>
#include <set>

#include "error_of.h"
#include "nn/fileio.h"
#include "siglip/caption_stream.h"
#include "siglip/run_setup.h"
#include "siglip/shard_loader.h"
#include "siglip/train.h"
#include "train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

// `n` PNGs img/K.png (20x14, distinct pixels) and DIR/caps.tsv with "img/K.png <TAB> picture K <TAB> even|odd".
// Lines listed in `broken_image` point at a file that is not an image; `malformed` lines have no tab.
std::string caption_dir(const std::string& dir, int n, std::set<int> broken_image = {}, std::set<int> malformed = {}) {
  fs::create_directories(dir + "/img");
  std::string tsv = "image\tcaption\tlabel\n";
  for (int k = 0; k < n; ++k) {
    std::vector<uint8_t> px(20 * 14 * 3);
    for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 3 + k * 17);
    const std::string path = fmt::format("{}/img/{}.png", dir, k);
    if (broken_image.count(k)) write_file_atomic(path, "not an image");
    else stbi_write_png(path.c_str(), 20, 14, 3, px.data(), 60);
    tsv += malformed.count(k) ? fmt::format("img/{}.png picture {}\n", k, k)
                              : fmt::format("img/{}.png\tpicture {}\t{}\n", k, k, k % 2 ? "odd" : "even");
  }
  write_file_atomic(dir + "/caps.tsv", tsv);
  return dir + "/caps.tsv";
}

ShardLoaderOptions stream_options(int workers) {
  ShardLoaderOptions o;
  o.batch_size = 4;
  o.text_len = 4;
  o.image_size = 8;
  o.seed = 9;
  o.workers = workers;
  return o;
}

std::unique_ptr<ShardLoader> record_loader(const CaptionStream& cs, int workers, bool skip = false) {
  ShardLoaderOptions o = stream_options(workers);
  o.skip_bad = skip;
  std::vector<std::string> caps;
  for (int k = 0; k < 40; ++k) caps.push_back(fmt::format("picture {}", k));
  return std::make_unique<ShardLoader>(cs.train, cs.labels, Tokenizer::build(caps, 100),
                                       ImageProcessor::siglip_default(8), o, cs.bad);
}

}  // namespace

TEST_CASE("caption stream: records split as load_caption_file splits; the loader's images equal the in-memory set's") {
  const std::string dir = temp_dir("capstream_split");
  const std::string tsv = caption_dir(dir, 30);
  const CaptionStream cs = read_caption_stream(tsv, 0.1, false);
  CHECK(cs.train.size() == 27);
  REQUIRE(cs.test.size() == 3);
  CHECK(cs.test[0].caption == "picture 9");
  CHECK(cs.test[0].where() == tsv + ":11");  // the header is line 1
  CHECK(cs.labels.classes == std::vector<std::string>{"even", "odd"});
  CHECK(cs.train[0].image.empty());  // no pixels read yet
  const Dataset whole = load_caption_file(tsv, 8, 0.1, 0, 3);
  REQUIRE(whole.train.size() == 27);
  const std::vector<Example> test = load_record_examples(cs.test, cs.labels, ImageProcessor::siglip_default(8), 3, 8,
                                                         false);
  REQUIRE(test.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(test[i].caption == whole.test[i].caption);
    CHECK(test[i].image == whole.test[i].image);
    CHECK(test[i].labels == whole.test[i].labels);
  }
  std::map<std::string, const Example*> by_caption;
  for (const Example& e : whole.train) by_caption[e.caption] = &e;
  auto one = record_loader(cs, 1), three = record_loader(cs, 3);
  std::set<std::string> trained;
  std::vector<std::vector<std::string>> epoch_captions(3);
  for (int b = 0; b < 18; ++b) {  // 6 batches an epoch (27 records, the partial batch dropped): three epochs
    const Batch x = one->next(), y = three->next();
    CHECK(x.captions == y.captions);
    CHECK(x.images.to_vector<float>() == y.images.to_vector<float>());
    const std::vector<float> px = x.images.to_vector<float>();
    for (size_t k = 0; k < 4; ++k) {
      const Example& e = *by_caption.at(x.captions[k]);
      CHECK(std::equal(e.image.begin(), e.image.end(), px.begin() + k * e.image.size()));
      CHECK(x.labels[k] == e.labels[0]);
      trained.insert(x.captions[k]);
      epoch_captions[static_cast<size_t>(b / 6)].push_back(x.captions[k]);
    }
  }
  for (const ShardSample& t : cs.test) CHECK(trained.count(t.caption) == 0);  // never trained on
  CHECK(trained.size() == 27);
  CHECK(epoch_captions[0] != epoch_captions[1]);  // reshuffled each epoch
  // seek: the same batches again from the middle of the second epoch.
  auto resumed = record_loader(cs, 2);
  resumed->seek({1, 8});
  for (int b = 8; b < 12; ++b) {
    const Batch x = resumed->next();
    for (size_t k = 0; k < 4; ++k) CHECK(x.captions[k] == epoch_captions[1][static_cast<size_t>(b - 6) * 4 + k]);
  }
  fs::remove_all(dir);
}

TEST_CASE("caption stream: a bad image or a malformed line names file:line; --on-bad-sample skip counts it") {
  const std::string dir = temp_dir("capstream_bad");
  const std::string tsv = caption_dir(dir, 12, {3}, {5});
  CHECK(error_of([&] { read_caption_stream(tsv, 0.1, false); }) ==
        fmt::format("data: {}:7: malformed line: expected 'image<TAB>caption[<TAB>label]', found 1 field (no tab)", tsv));
  const CaptionStream cs = read_caption_stream(tsv, 0.1, true);
  CHECK(cs.bad == 1);
  REQUIRE(cs.bad_log.size() == 1);
  CHECK(cs.bad_log[0].starts_with(fmt::format("data: {}:7: malformed line", tsv)));
  CHECK(cs.train.size() + cs.test.size() == 11);
  // The broken image (line 5) stops the stream, naming the file, the line and the image...
  auto failing = record_loader(cs, 2);
  std::string error = "(no error)";
  for (int b = 0; b < 6 && error == "(no error)"; ++b) error = error_of([&] { failing->next(); });
  CHECK(error.starts_with(fmt::format("data: {}:5: cannot decode 'img/3.png': ", tsv)));
  CHECK(error.ends_with("(--on-bad-sample skip leaves such samples out)"));
  // ... or is left out and counted (with the malformed line) each time it comes round.
  auto skipping = record_loader(cs, 2, true);
  for (int b = 0; b < 6; ++b)
    for (const std::string& c : skipping->next().captions) CHECK(c != "picture 3");
  CHECK(skipping->bad_samples() >= 3);
  fs::remove_all(dir);
}

TEST_CASE("caption stream: train streams a caption file (no training images in memory); resume is bit-identical") {
  const std::string dir = temp_dir("capstream_train");
  const std::string tsv = caption_dir(dir + "/data", 44);  // 40 training records: 5 batches of 8 an epoch
  auto options = [&](const std::string& out, int64_t steps) {
    TrainOptions o = tiny_run(out);
    o.data = tsv;
    o.steps = steps;
    o.warmup = 3;
    o.augment = Augment::Crop;
    return o;
  };
  {
    RunSetup setup(options(dir + "/setup", 1));
    CHECK(setup.streamed);
    CHECK(setup.data.train.empty());
    CHECK(setup.train_examples == 40);
    CHECK(setup.data.test.empty());  // --no-eval: the test split is not decoded
  }
  const WholeAndResumed r = train_whole_and_resumed(options("", 7), dir, 3, 7, 1);  // resumed with 1 worker
  CHECK(r.whole.size() > 1000);
  CHECK(r.whole == r.resumed);
  CHECK(read_file(dir + "/parts/metrics.jsonl").find(R"({"data":{"bad_samples":0},"step":7})") != std::string::npos);
  fs::remove_all(dir);
}
