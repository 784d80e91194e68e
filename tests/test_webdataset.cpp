// WebDataset shards: brace expansion; pack then read back (captions, labels, PNG pixels exactly); grouping of members
// into samples and the errors (missing caption, truncated shard, undecodable or WebP image) naming shard, key and
// member; the streaming loader's order (a function of the seed, not of the workers), seek, bad-sample counting; and
// a resumed training run on shards that ends with the same weights, bit for bit, as an uninterrupted one; and
// shardindex.json (data pack and data index write it; a stale entry is read again).
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "error_of.h"
#include "nn/fileio.h"
#include "siglip/commands.h"
#include "siglip/data.h"
#include "siglip/shard_loader.h"
#include "siglip/shard_spec.h"
#include "siglip/train.h"
#include "siglip/webdataset.h"
#include "train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> png_bytes(int w, int h, uint8_t seed) {
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<uint8_t>(i * 7 + seed * 31);
  std::vector<uint8_t> out;
  stbi_write_png_to_func([](void* ctx, void* d, int n) {
    auto* v = static_cast<std::vector<uint8_t>*>(ctx);
    v->insert(v->end(), static_cast<uint8_t*>(d), static_cast<uint8_t*>(d) + n);
  }, &out, w, h, 3, px.data(), w * 3);
  return out;
}

// `n` samples "s/0000".."s/NNNN" (PNG 12x10 + caption "caption K" + label K % 3) into `path`.
void write_shard(const std::string& path, int first, int n) {
  ShardWriter w(path);
  for (int k = first; k < first + n; ++k) {
    const std::string key = fmt::format("s/{:04d}", k);
    const std::vector<uint8_t> png = png_bytes(12, 10, static_cast<uint8_t>(k));
    w.add(key + ".png", png.data(), png.size());
    w.add(key + ".txt", fmt::format("caption {}", k));
    w.add(key + ".cls", std::to_string(k % 3));
  }
  w.close();
}

// `shards` shards of `per` samples each in `dir`; returns the brace spec.
std::string write_shards(const std::string& dir, int shards, int per) {
  fs::create_directories(dir);
  for (int s = 0; s < shards; ++s) write_shard(fmt::format("{}/{:03d}.tar", dir, s), s * per, per);
  return fmt::format("{}/{{000..{:03d}}}.tar", dir, shards - 1);
}

std::vector<ShardSample> read_all(const std::string& path) {
  std::vector<ShardSample> out;
  ShardReader r(path);
  ShardSample s;
  while (r.next(s)) out.push_back(s);
  return out;
}

Tokenizer caption_tokenizer() {
  std::vector<std::string> caps;
  for (int k = 0; k < 100; ++k) caps.push_back(fmt::format("caption {}", k));
  return Tokenizer::build(caps, 200);
}

ShardLoaderOptions loader_options(int workers, uint64_t buffer = 7) {
  ShardLoaderOptions o;
  o.batch_size = 4;
  o.text_len = 4;
  o.image_size = 8;
  o.seed = 5;
  o.workers = workers;
  o.shuffle_buffer = buffer;
  return o;
}

std::unique_ptr<ShardLoader> make_loader(const std::string& spec, const ShardLoaderOptions& o) {
  ShardScan scan = scan_shards(shard_paths(spec), o.skip_bad);
  ShardLabels labels = ShardLabels::from(scan.raw_labels, scan.shards.front());
  return std::make_unique<ShardLoader>(std::move(scan), labels, caption_tokenizer(), ImageProcessor::siglip_default(8),
                                       o);
}

struct BatchPrint {
  std::vector<std::string> captions;
  std::vector<float> pixels;
  std::vector<int> labels;
  bool operator==(const BatchPrint&) const = default;
};
BatchPrint print_of(const Batch& b) { return {b.captions, b.images.to_vector<float>(), b.labels}; }

}  // namespace

TEST_CASE("webdataset: brace expansion as braceexpand (ranges padded, lists, several specs)") {
  CHECK(expand_braces("d/{00000..00002}.tar") == std::vector<std::string>{"d/00000.tar", "d/00001.tar", "d/00002.tar"});
  CHECK(expand_braces("d/{8..11}.tar") == std::vector<std::string>{"d/8.tar", "d/9.tar", "d/10.tar", "d/11.tar"});
  CHECK(expand_braces("d/{08..11}.tar") == std::vector<std::string>{"d/08.tar", "d/09.tar", "d/10.tar", "d/11.tar"});
  CHECK(expand_braces("{a,b}/{0..1}.tar") == std::vector<std::string>{"a/0.tar", "a/1.tar", "b/0.tar", "b/1.tar"});
  CHECK(expand_braces("x.tar") == std::vector<std::string>{"x.tar"});
  CHECK(expand_braces("a/{0..1}.tar,b/z.tar") == std::vector<std::string>{"a/0.tar", "a/1.tar", "b/z.tar"});
  CHECK(expand_braces("{a,{b,c}}.tar") == std::vector<std::string>{"a.tar", "b.tar", "c.tar"});
  CHECK(is_shard_spec("d/{000..009}.tar"));
  CHECK(is_shard_spec("d/x.tar.gz"));
  CHECK(!is_shard_spec("shapes"));
  CHECK(!is_shard_spec("caps.tsv"));
  CHECK(error_of([] { expand_braces("d/{0..3.tar"); }) == "data: 'd/{0..3.tar': unbalanced '{'");
  CHECK(error_of([] { expand_braces("d/0..3}.tar"); }) == "data: 'd/0..3}.tar': unbalanced '}'");
  CHECK(error_of([] { shard_paths("/nonexistent/{0..1}.tar"); }) ==
        "data: '/nonexistent/{0..1}.tar': shard /nonexistent/0.tar not found (one of 2 the spec names)");
}

TEST_CASE("webdataset: data pack writes shapes as shards that read back with the same captions, labels and pixels") {
  const std::string dir = temp_dir("wds_pack");
  DataPackOptions o;
  o.data = "shapes:25:6";
  o.out = dir;
  o.shard_size = 10;
  o.image_size = 16;
  o.seed = 3;
  REQUIRE(run_data_pack(o) == 0);
  CHECK(fs::exists(dir + "/00002.tar"));
  CHECK(!fs::exists(dir + "/00003.tar"));
  CHECK(fs::exists(dir + "/test/00000.tar"));
  CHECK(error_of([&] { run_data_pack(o); }) == fmt::format("data pack: {} already has shards (--force writes over them)", dir));

  const Dataset d = load_dataset("shapes:25:6", 16, 0, 3);
  std::vector<ShardSample> got;
  for (const std::string& p : shard_paths(dir + "/{00000..00002}.tar"))
    for (ShardSample& s : read_all(p)) got.push_back(std::move(s));
  REQUIRE(got.size() == d.train.size());
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].problem == "");
    CHECK(got[i].key == fmt::format("{:09d}", i));
    CHECK(got[i].caption == d.train[i].caption);
    CHECK(got[i].label == std::to_string(d.train[i].labels[0]));
    Image8 im;
    REQUIRE(decode_image_memory(got[i].image, im) == "");
    REQUIRE(im.width == 16);
    REQUIRE(im.bands == 3);
    size_t diff = 0;  // PNG is lossless: the 8-bit values the generator rounded to
    for (int c = 0; c < 3; ++c)
      for (int p = 0; p < 256; ++p)
        diff += im.pixels[static_cast<size_t>(p) * 3 + c] !=
                static_cast<uint8_t>(std::lround((d.train[i].image[static_cast<size_t>(c) * 256 + p] + 1) * 127.5f));
    CHECK(diff == 0);
  }
  // The whole path: scan, labels (named by classes.txt), decode and preprocess at the same size.
  ShardScan scan = scan_shards(shard_paths(dir + "/{00000..00002}.tar"), false);
  CHECK(scan.total == 25);
  CHECK(scan.samples == std::vector<uint64_t>{10, 10, 5});
  CHECK(scan.from_index == 3);  // pack wrote shardindex.json: training reads no shard before its first step
  CHECK(scan_shards(shard_paths(dir + "/{00000..00002}.tar"), false, nullptr, SIZE_MAX, false).raw_labels ==
        scan.raw_labels);
  const ShardLabels labels = ShardLabels::from(scan.raw_labels, scan.shards.front());
  CHECK(labels.classes == kShapeNames);
  const Dataset in_memory = load_dataset(dir + "/{00000..00002}.tar", 16, 0, 0);  // eval, grad: the last shard tests
  CHECK(in_memory.train.size() == 20);
  CHECK(in_memory.test.size() == 5);
  CHECK(in_memory.train[10].caption == d.train[10].caption);
  const std::vector<Example> test = load_shard_examples({dir + "/test/00000.tar"}, labels,
                                                        ImageProcessor::siglip_default(16), 3, 16, false);
  REQUIRE(test.size() == d.test.size());
  for (size_t i = 0; i < test.size(); ++i) {
    CHECK(test[i].caption == d.test[i].caption);
    CHECK(test[i].labels == std::vector<int>{d.test[i].labels[0]});
    double worst = 0;
    for (size_t k = 0; k < test[i].image.size(); ++k)
      worst = std::max(worst, static_cast<double>(std::abs(test[i].image[k] - d.test[i].image[k])));
    CHECK(worst < 1e-6);
  }
  fs::remove_all(dir);
}

TEST_CASE("webdataset: members group into samples by key; captions and labels from .txt, .json and .cls") {
  const std::string dir = temp_dir("wds_group");
  fs::create_directories(dir);
  const std::vector<uint8_t> png = png_bytes(4, 4, 1);
  {
    ShardWriter w(dir + "/a.tar");
    w.add("img/0001.png", png.data(), png.size());
    w.add("img/0001.txt", "  a red circle\n");
    w.add("img/0002.jpg.json", R"({"caption": "ignored: no image of key img/0002.jpg"})");
    w.add("img/0003.png", png.data(), png.size());
    w.add("img/0003.json", R"({"text": "a blue square", "label": "square"})");
    w.add("img/0004.png", png.data(), png.size());
    w.add("img/0004.txt", "a cat");
    w.add("img/0004.cls", "2");
    w.add("img/0004.mp4", "not read");
    w.close();
  }
  const std::vector<ShardSample> s = read_all(dir + "/a.tar");
  REQUIRE(s.size() == 4);
  CHECK(s[0].key == "img/0001");
  CHECK(s[0].caption == "a red circle");
  CHECK(!s[0].has_label);
  CHECK(s[0].image == png);
  CHECK(s[1].key == "img/0002");
  CHECK(s[1].problem == "no image (.jpg, .jpeg or .png; members: img/0002.jpg.json)");
  CHECK(s[2].caption == "a blue square");
  CHECK(s[2].label == "square");
  CHECK(s[3].caption == "a cat");
  CHECK(s[3].label == "2");
  CHECK(s[3].image_member == "img/0004.png");
  fs::remove_all(dir);
}

TEST_CASE("webdataset: bad samples and shards name the shard, the key and the member; skip counts them") {
  const std::string dir = temp_dir("wds_bad");
  fs::create_directories(dir);
  const std::vector<uint8_t> png = png_bytes(4, 4, 1);
  {
    ShardWriter w(dir + "/nocap.tar");
    w.add("k/1.png", png.data(), png.size());
    w.add("k/1.txt", "fine");
    w.add("k/2.png", png.data(), png.size());
    w.add("k/2.cls", "1");
    w.close();
  }
  CHECK(error_of([&] { scan_shards({dir + "/nocap.tar"}, false); }) ==
        fmt::format("data: {}/nocap.tar: sample 'k/2': no caption (.txt, or .json with a string \"caption\" or \"text\"; "
                    "members: k/2.png, k/2.cls) (--on-bad-sample skip leaves such samples out)", dir));
  ShardScan skipped = scan_shards({dir + "/nocap.tar"}, true);
  CHECK(skipped.total == 1);
  CHECK(skipped.bad == 1);
  REQUIRE(skipped.bad_log.size() == 1);
  CHECK(skipped.bad_log[0].starts_with(fmt::format("{}/nocap.tar: sample 'k/2': no caption", dir)));

  {
    ShardWriter w(dir + "/webp.tar");
    w.add("k/1.webp", "RIFF....WEBP");
    w.add("k/1.txt", "a photo");
    w.close();
  }
  CHECK(read_all(dir + "/webp.tar")[0].problem ==
        "'k/1.webp': WebP images are not supported (stb_image decodes JPEG and PNG)");

  // A truncated shard: the samples before the damage are read, then the error names the shard and the member.
  write_shard(dir + "/whole.tar", 0, 6);
  const std::string bytes = read_file(dir + "/whole.tar");
  write_file_atomic(dir + "/cut.tar", bytes.substr(0, bytes.size() / 2 + 100));
  const std::string cut_error = error_of([&] { scan_shards({dir + "/cut.tar"}, false); });
  CHECK(cut_error.starts_with(fmt::format("data: {}/cut.tar: truncated", dir)));
  CHECK(cut_error.find("member 's/00") != std::string::npos);
  ShardScan cut = scan_shards({dir + "/cut.tar"}, true);
  CHECK(cut.bad == 1);
  CHECK(cut.total >= 2);
  CHECK(cut.total < 6);

  // An image that does not decode: the loader stops naming it, or (skip) leaves it out and counts it each time.
  {
    ShardWriter w(dir + "/garbage.tar");
    for (int k = 0; k < 8; ++k) {
      const std::string key = fmt::format("g/{}", k);
      if (k == 5) w.add(key + ".jpg", "not a jpeg at all");
      else w.add(key + ".png", png.data(), png.size());
      w.add(key + ".txt", fmt::format("caption {}", k));
    }
    w.close();
  }
  ShardLoaderOptions o = loader_options(2, 1);
  auto failing = make_loader(dir + "/garbage.tar", o);
  failing->next();
  const std::string decode_error = error_of([&] { failing->next(); });
  CHECK(decode_error.starts_with(fmt::format("data: {}/garbage.tar: sample 'g/5': cannot decode 'g/5.jpg': ", dir)));
  CHECK(decode_error.ends_with("(--on-bad-sample skip leaves such samples out)"));
  o.skip_bad = true;
  auto skipping = make_loader(dir + "/garbage.tar", o);
  for (int i = 0; i < 4; ++i) {  // 7 good samples: one batch of 4 per epoch, the rest dropped
    const Batch b = skipping->next();
    for (const std::string& c : b.captions) CHECK(c != "caption 5");
  }
  CHECK(skipping->bad_samples() >= 3);
  CHECK(skipping->bad_samples() <= 4);
  fs::remove_all(dir);
}

TEST_CASE("webdataset: a shard in memory reads as the same file by its path; a corrupt member size allocates little") {
  const std::string dir = temp_dir("wds_memory");
  fs::create_directories(dir);
  write_shard(dir + "/a.tar", 0, 5);
  const std::string bytes = read_file(dir + "/a.tar");
  const std::vector<ShardSample> from_path = read_all(dir + "/a.tar");
  std::vector<ShardSample> from_memory;
  ShardReader reader(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "in-memory.tar");
  for (ShardSample s; reader.next(s);) from_memory.push_back(s);
  REQUIRE(from_memory.size() == from_path.size());
  for (size_t i = 0; i < from_path.size(); ++i) {
    CHECK(from_memory[i].shard == "in-memory.tar");
    CHECK(from_memory[i].key == from_path[i].key);
    CHECK(from_memory[i].image == from_path[i].image);
    CHECK(from_memory[i].caption == from_path[i].caption);
    CHECK(from_memory[i].label == from_path[i].label);
  }
  CHECK(error_of([] { ShardReader r(reinterpret_cast<const uint8_t*>("not a tar"), 9, "junk.tar"); ShardSample s; r.next(s); })
            .starts_with("data: junk.tar: "));

  // A gzip-compressed shard reads as the plain one.
  gzFile gz = gzopen((dir + "/a.tar.gz").c_str(), "wb");
  REQUIRE(gz);
  REQUIRE(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
  const std::vector<ShardSample> from_gzip = read_all(dir + "/a.tar.gz");
  REQUIRE(from_gzip.size() == from_path.size());
  CHECK(from_gzip.back().caption == from_path.back().caption);
  CHECK(from_gzip.back().image == from_path.back().image);

  // The first member's header claims 4 GiB - 1 (octal 37777777777) in a 5 KiB shard: the reader stops at the end of
  // the data with an error naming the member, without taking the claimed size first.
  std::string huge = bytes;
  const std::string size_field = "37777777777";
  huge.replace(124, size_field.size(), size_field);
  unsigned checksum = 0;
  for (size_t i = 0; i < 512; ++i) checksum += (i >= 148 && i < 156) ? ' ' : static_cast<uint8_t>(huge[i]);
  huge.replace(148, 8, fmt::format("{:06o}", checksum) + std::string("\0 ", 2));
  ShardReader cut(reinterpret_cast<const uint8_t*>(huge.data()), huge.size(), "huge.tar");
  ShardSample s;
  const std::string cut_error = error_of([&] { cut.next(s); });
  CAPTURE(cut_error);
  CHECK(cut_error == "data: huge.tar: truncated or corrupt shard in member 's/0000.png': Truncated tar archive");
  fs::remove_all(dir);
}

TEST_CASE("webdataset: the stream order is a function of the seed, the same with 1 or 3 workers; seek resumes it") {
  const std::string dir = temp_dir("wds_order");
  const std::string spec = write_shards(dir, 4, 9);  // 36 samples: 9 batches of 4 an epoch
  const std::vector<uint64_t> counts{9, 9, 9, 9};
  const auto e0 = shard_stream_order(counts, 5, 0, 7), e1 = shard_stream_order(counts, 5, 1, 7);
  CHECK(e0.size() == 36);
  CHECK(std::set(e0.begin(), e0.end()).size() == 36);
  CHECK(e0 == shard_stream_order(counts, 5, 0, 7));
  CHECK(e0 != e1);
  CHECK(e0 != shard_stream_order(counts, 6, 0, 7));
  auto unshuffled = shard_stream_order(counts, 5, 0, 1);  // no buffer: shards in shuffled order, samples in file order
  for (size_t i = 0; i < 36; ++i) CHECK(unshuffled[i].second == i % 9);

  auto one = make_loader(spec, loader_options(1)), three = make_loader(spec, loader_options(3));
  std::vector<BatchPrint> seen;
  BatchSource::Position at3;
  for (int i = 0; i < 12; ++i) {  // into the second epoch
    if (i == 3) at3 = one->position();
    seen.push_back(print_of(one->next()));
    CHECK(print_of(three->next()) == seen.back());
  }
  // The first epoch's captions follow shard_stream_order: sample i of shard s has caption "caption {9 s + i}".
  for (int i = 0; i < 9; ++i)
    for (int k = 0; k < 4; ++k) {
      const auto [s, j] = e0[static_cast<size_t>(i * 4 + k)];
      CHECK(seen[i].captions[k] == fmt::format("caption {}", s * 9 + j));
      CHECK(seen[i].labels[k] == static_cast<int>((s * 9 + j) % 3));
    }
  CHECK(at3 == BatchSource::Position{0, 12});
  auto resumed = make_loader(spec, loader_options(2));
  resumed->seek(at3);
  for (int i = 3; i < 12; ++i) CHECK(print_of(resumed->next()) == seen[static_cast<size_t>(i)]);
  fs::remove_all(dir);
}

TEST_CASE("webdataset: a run on shards interrupted by --steps and resumed ends with the same weights, bit for bit") {
  const std::string dir = temp_dir("wds_resume");
  DataPackOptions p;
  p.data = "shapes:48:8";
  p.out = dir + "/shards";
  p.shard_size = 12;
  p.image_size = 16;
  REQUIRE(run_data_pack(p) == 0);
  TrainOptions o = tiny_run("");
  o.data = p.out + "/{00000..00003}.tar";
  o.eval_data = p.out + "/test/00000.tar";
  o.shuffle_buffer = 10;
  o.warmup = 3;  // steps 1-4 have the same learning rate whatever the total (the cosine starts at step 4)
  // 48 samples: 6 batches an epoch, so the runs cross an epoch; the resumed part decodes with 3 workers.
  const WholeAndResumed r = train_whole_and_resumed(o, dir, 4, 9, 3);
  CHECK(r.whole.size() > 1000);
  CHECK(r.whole == r.resumed);
  const std::string metrics = read_file(dir + "/parts/metrics.jsonl");
  CHECK(metrics.find(R"({"data":{"bad_samples":0},"step":9})") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("webdataset: data pack copies a caption file's images and repacks shards; --format jpg encodes JPEG") {
  const std::string dir = temp_dir("wds_pack_files");
  fs::create_directories(dir + "/img");
  std::string tsv;
  std::vector<std::vector<uint8_t>> pngs;
  for (int k = 0; k < 12; ++k) {
    pngs.push_back(png_bytes(6, 5, static_cast<uint8_t>(k)));
    write_file_atomic(fmt::format("{}/img/{}.png", dir, k), std::string(pngs.back().begin(), pngs.back().end()));
    tsv += fmt::format("img/{}.png\tpicture {}\t{}\n", k, k, k % 2 ? "odd" : "even");
  }
  write_file_atomic(dir + "/caps.tsv", tsv);
  DataPackOptions o;
  o.data = dir + "/caps.tsv";
  o.out = dir + "/from_tsv";
  o.shard_size = 4;
  REQUIRE(run_data_pack(o) == 0);
  // Line 10 (1-based) goes to the test split, as training on the file splits it; the rest in 3 shards of 4, 4, 3.
  const std::vector<ShardSample> test = read_all(o.out + "/test/00000.tar");
  REQUIRE(test.size() == 1);
  CHECK(test[0].caption == "picture 9");
  CHECK(read_file(o.out + "/classes.txt") == "even\nodd\n");
  std::vector<ShardSample> train;
  for (const std::string& p : shard_paths(o.out + "/{00000..00002}.tar"))
    for (ShardSample& s : read_all(p)) train.push_back(std::move(s));
  REQUIRE(train.size() == 11);
  for (const ShardSample& s : train) {
    const int k = std::stoi(s.caption.substr(8));
    CHECK(s.image == pngs[static_cast<size_t>(k)]);  // copied, not re-encoded
    CHECK(s.label == (k % 2 ? "1" : "0"));
  }
  // Shards into shards of another size: the same samples, keys and labels, in order.
  DataPackOptions re;
  re.data = o.out + "/{00000..00002}.tar";
  re.out = dir + "/repacked";
  re.shard_size = 5;
  REQUIRE(run_data_pack(re) == 0);
  std::vector<ShardSample> again;
  for (const std::string& p : shard_paths(re.out + "/{00000..00002}.tar"))
    for (ShardSample& s : read_all(p)) again.push_back(std::move(s));
  REQUIRE(again.size() == train.size());
  for (size_t i = 0; i < again.size(); ++i) {
    CHECK(again[i].key == train[i].key);
    CHECK(again[i].caption == train[i].caption);
    CHECK(again[i].label == train[i].label);
    CHECK(again[i].image == train[i].image);
  }
  CHECK(read_file(re.out + "/classes.txt") == "even\nodd\n");

  DataPackOptions jpg;
  jpg.data = "shapes:3:0";
  jpg.out = dir + "/jpg";
  jpg.format = PackFormat::Jpg;
  jpg.image_size = 24;
  REQUIRE(run_data_pack(jpg) == 0);
  const std::vector<ShardSample> j = read_all(jpg.out + "/00000.tar");
  REQUIRE(j.size() == 3);
  CHECK(j[0].image_member == "000000000.jpg");
  Image8 im;
  CHECK(decode_image_memory(j[0].image, im) == "");
  CHECK(im.width == 24);
  CHECK(!fs::exists(jpg.out + "/test"));
  fs::remove_all(dir);
}

TEST_CASE("webdataset: shardindex.json gives the counts without reading the shards; stale or bad entries are read") {
  const std::string dir = temp_dir("wds_index");
  const std::string spec = write_shards(dir, 3, 5);  // 15 samples, labels 0..2
  const std::vector<std::string> shards = shard_paths(spec);
  const ShardScan read = scan_shards(shards, false);
  CHECK(read.from_index == 0);
  CHECK(run_data_index([&] { DataIndexOptions o; o.data = spec; return o; }()) == 0);
  REQUIRE(fs::exists(dir + "/shardindex.json"));

  // The same counts and labels as reading them, so the same stream order (shard_loader.h depends on the counts only).
  const ShardScan indexed = scan_shards(shards, false);
  CHECK(indexed.from_index == 3);
  CHECK(indexed.samples == read.samples);
  CHECK(indexed.total == 15);
  CHECK(indexed.raw_labels == read.raw_labels);
  // Captions wanted: shards are read until the first `caption_limit` captions are in, the rest come from the index.
  std::vector<std::string> captions;
  const ShardScan some = scan_shards(shards, false, &captions, 7);
  CHECK(captions.size() == 7);
  CHECK(captions.front() == "caption 0");
  CHECK(some.from_index == 1);
  CHECK(some.samples == read.samples);

  // A shard rewritten since it was indexed (another size) is read again, and its new count is used.
  write_shard(shards[1], 5, 4);
  const ShardScan stale = scan_shards(shards, false);
  CHECK(stale.from_index == 2);
  CHECK(stale.samples == std::vector<uint64_t>{5, 4, 5});

  // A shard with a bad sample, indexed with --skip-bad: training with skip takes its counts; with fail it is read
  // and the error names the sample.
  {
    const std::vector<uint8_t> png = png_bytes(4, 4, 1);
    ShardWriter w(shards[2]);
    w.add("k/1.png", png.data(), png.size());
    w.add("k/1.txt", "fine");
    w.add("k/2.png", png.data(), png.size());
    w.close();
  }
  CHECK(error_of([&] { run_data_index([&] { DataIndexOptions o; o.data = spec; return o; }()); })
            .starts_with(fmt::format("data: {}: sample 'k/2': no caption", shards[2])));
  CHECK(run_data_index([&] { DataIndexOptions o; o.data = spec; o.on_bad_skip = true; return o; }()) == 0);
  const ShardScan skip = scan_shards(shards, true);
  CHECK(skip.from_index == 3);
  CHECK(skip.samples == std::vector<uint64_t>{5, 4, 1});
  CHECK(skip.bad == 1);
  REQUIRE(skip.bad_log.size() == 1);
  CHECK(skip.bad_log[0].find("1 bad sample left out when it was indexed") != std::string::npos);
  CHECK(error_of([&] { scan_shards(shards, false); }).starts_with(fmt::format("data: {}: sample 'k/2'", shards[2])));

  // A damaged index is an error naming it; a wids index without our fields is not used.
  write_file_atomic(dir + "/shardindex.json", "{\"shardlist\": [{\"url\": 3}]}");
  CHECK(error_of([&] { scan_shards(shards, true); }) ==
        fmt::format("data: {}/shardindex.json: shardlist[0] needs a string \"url\" and a count \"nsamples\"", dir));
  write_file_atomic(dir + "/shardindex.json", "{\"shardlist\": [{\"url\": \"000.tar\", \"nsamples\": 99}]}");
  CHECK(scan_shards(shards, true).from_index == 0);
  CHECK(scan_shards(shards, true).samples == std::vector<uint64_t>{5, 4, 1});
  fs::remove_all(dir);
}

TEST_CASE("webdataset: a loader decoding a share of each batch gives those rows of the whole batch") {
  const std::string dir = temp_dir("wds_share");
  const std::string spec = write_shards(dir, 3, 5);  // 15 samples: 3 batches of 4 an epoch
  ShardLoaderOptions whole = loader_options(2), share = loader_options(2);
  share.image_rows_begin = 1;
  share.image_rows = 2;
  auto all = make_loader(spec, whole), part = make_loader(spec, share);
  for (int i = 0; i < 7; ++i) {  // across an epoch's end (the partial batch dropped)
    const Batch a = all->next(), p = part->next();
    CHECK(p.captions == a.captions);
    CHECK(p.labels == a.labels);
    CHECK(p.ids.to_vector<int64_t>() == a.ids.to_vector<int64_t>());
    CHECK(p.image_row0 == 1);
    REQUIRE(p.images.size(0) == 2);
    CHECK(p.images.to_vector<float>() == a.images.narrow(0, 1, 2).contiguous().to_vector<float>());
  }
  share.skip_bad = true;
  CHECK(error_of([&] { make_loader(spec, share); }).starts_with("loader: decoding a share of each batch needs "
                                                                "--on-bad-sample fail"));
  share.skip_bad = false;
  share.image_rows = 4;
  CHECK(error_of([&] { make_loader(spec, share); }) == "loader: rows [1, 5) are not inside a batch of 4");
  fs::remove_all(dir);
}
