// test_data.cpp: datasets (shapes, Fashion-MNIST, caption files), the word tokenizer and the batch loader.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "siglip/data.h"
#include "siglip/loader.h"
#include "siglip/tokenizer.h"
#include "base/error.h"

namespace fs = std::filesystem;
using namespace sg;

namespace {

// A fresh, empty temporary directory removed when the object dies.
struct TempDir {
  fs::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() / fmt::format("sg_test_data_{}_{}", static_cast<long>(getpid()), counter++);
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Solid-colour RGB PNG.
void write_png(const std::string& path, int w, int h, unsigned char r, unsigned char g, unsigned char b) {
  std::vector<unsigned char> px(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < px.size(); i += 3) px[i] = r, px[i + 1] = g, px[i + 2] = b;
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3) != 0);
}

// The message of the sg::Error that f throws ("" if it throws nothing).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> w;
  std::string c = Tokenizer::canonicalize(s);
  size_t start = 0;
  while (start <= c.size()) {
    size_t sp = c.find(' ', start);
    if (sp == std::string::npos) sp = c.size();
    if (sp > start) w.push_back(c.substr(start, sp - start));
    start = sp + 1;
  }
  return w;
}

// Index of the first word of `caption` that is in `names`, or -1.
int first_named(const std::string& caption, const std::vector<std::string>& names) {
  for (auto& w : words(caption)) {
    auto it = std::find(names.begin(), names.end(), w);
    if (it != names.end()) return static_cast<int>(it - names.begin());
  }
  return -1;
}

bool fashion_available() { return fs::exists(fs::path(kFashionMnistDir) / "train-images-idx3-ubyte.gz"); }

}  // namespace

// =========================================================================================================
// shapes
// =========================================================================================================

TEST_CASE("data: shapes is deterministic in its seed") {
  Dataset a = make_shapes(60, 20, 32, 7), b = make_shapes(60, 20, 32, 7), c = make_shapes(60, 20, 32, 8);
  REQUIRE(a.train.size() == 60);
  REQUIRE(a.test.size() == 20);
  CHECK(a.channels == 3);
  CHECK(a.height == 32);
  CHECK(a.width == 32);
  for (size_t i = 0; i < a.train.size(); ++i) {
    CHECK(a.train[i].image == b.train[i].image);
    CHECK(a.train[i].caption == b.train[i].caption);
    CHECK(a.train[i].labels == b.train[i].labels);
  }
  for (size_t i = 0; i < a.test.size(); ++i) CHECK(a.test[i].image == b.test[i].image);
  int same_pixels = 0, same_captions = 0;
  for (size_t i = 0; i < a.train.size(); ++i) {
    same_pixels += a.train[i].image == c.train[i].image;
    same_captions += a.train[i].caption == c.train[i].caption;
  }
  CHECK(same_pixels == 0);
  CHECK(same_captions < 10);
  // Train and test are different streams.
  CHECK(a.train[0].image != a.test[0].image);
  // More examples leave the first ones unchanged (per-example streams).
  Dataset d = make_shapes(80, 5, 32, 7);
  CHECK(d.train[59].image == a.train[59].image);
}

TEST_CASE("data: shapes images, captions and labels agree") {
  Dataset d = make_shapes(600, 300, 32, 1);
  REQUIRE(d.label_sets.size() == 2);
  CHECK(d.label_sets[0].name == "shape");
  CHECK(d.label_sets[1].name == "colour");
  CHECK(d.label_sets[0].classes.size() >= 5);
  CHECK(d.label_sets[1].classes.size() >= 6);
  for (auto& ls : d.label_sets)
    for (auto& t : ls.templates) CHECK(t.find("{}") != std::string::npos);

  std::set<int> shapes_seen, colours_seen;
  int two_objects = 0;
  auto check = [&](const Example& ex, bool is_test) {
    REQUIRE(ex.image.size() == 3 * 32 * 32);
    auto [mn, mx] = std::minmax_element(ex.image.begin(), ex.image.end());
    CHECK(*mn >= -1.0f);
    CHECK(*mx <= 1.0f);
    CHECK(*mx - *mn > 0.3f);  // an object was drawn
    REQUIRE(ex.labels.size() == 2);
    int shape = first_named(ex.caption, kShapeNames), colour = first_named(ex.caption, kColourNames);
    CHECK_MESSAGE((shape >= 0 || colour >= 0), ex.caption);
    if (shape >= 0) CHECK_MESSAGE(shape == ex.labels[0], ex.caption);
    if (colour >= 0) CHECK_MESSAGE(colour == ex.labels[1], ex.caption);
    bool relation = false;
    for (const char* r : {" left of ", " right of ", " above ", " below "}) relation |= ex.caption.find(r) != std::string::npos;
    if (is_test) CHECK_MESSAGE(!relation, ex.caption);
    two_objects += relation;
    shapes_seen.insert(ex.labels[0]);
    colours_seen.insert(ex.labels[1]);
  };
  for (auto& ex : d.train) check(ex, false);
  for (auto& ex : d.test) check(ex, true);
  CHECK(shapes_seen.size() == d.label_sets[0].classes.size());
  CHECK(colours_seen.size() == d.label_sets[1].classes.size());
  CHECK(two_objects > 200);  // about half of the 600 training images
  CHECK(two_objects < 400);

  // The zero-shot templates' wordings occur in training captions, e.g. "a red shape", "a picture of a".
  bool colour_only = false, picture_of = false;
  for (auto& ex : d.train) {
    colour_only |= ex.caption.find(" shape") != std::string::npos;
    picture_of |= ex.caption.find("a picture of a") != std::string::npos;
  }
  CHECK(colour_only);
  CHECK(picture_of);
}

TEST_CASE("data: shapes single-object test images show the labelled colour") {
  Dataset d = make_shapes(0, 60, 32, 3);
  const float rgb[6][3] = {{220, 40, 40}, {40, 180, 60}, {50, 90, 235}, {235, 215, 40}, {150, 60, 200}, {245, 135, 25}};
  for (auto& ex : d.test) {
    // The pixel furthest from the background (brightest) lies inside the object: its colour is nearest the label's.
    size_t hw = 32 * 32, best = 0;
    float best_sum = -10;
    for (size_t i = 0; i < hw; ++i) {
      float s = ex.image[i] + ex.image[hw + i] + ex.image[2 * hw + i];
      if (s > best_sum) best_sum = s, best = i;
    }
    float px[3];
    for (int c = 0; c < 3; ++c) px[c] = (ex.image[c * hw + best] + 1) / 2 * 255;
    int nearest = 0;
    float nd = 1e30f;
    for (int k = 0; k < 6; ++k) {
      float dd = 0;
      for (int c = 0; c < 3; ++c) dd += (px[c] - rgb[k][c]) * (px[c] - rgb[k][c]);
      if (dd < nd) nd = dd, nearest = k;
    }
    CHECK_MESSAGE(nearest == ex.labels[1], ex.caption);
  }
}

TEST_CASE("data: fill_template fixes the article") {
  CHECK(fill_template("a photo of a {}", "ankle boot") == "a photo of an ankle boot");
  CHECK(fill_template("a photo of a {}", "sneaker") == "a photo of a sneaker");
  CHECK(fill_template("an image of a {}", "bag") == "an image of a bag");
  CHECK(fill_template("a {} on a black background", "coat") == "a coat on a black background");
  CHECK(fill_template("{}", "a red circle") == "a red circle");
  CHECK(fill_template("there is {}", "an orange ring") == "there is an orange ring");
  CHECK(fill_template("an {}", "dress") == "a dress");
  CHECK(fill_template("banana {}", "apple") == "banana apple");  // "a" must be a whole word
  CHECK_THROWS_AS(fill_template("no slot", "x"), Error);
}

TEST_CASE("data: shapes rejects bad arguments") {
  CHECK_THROWS_AS(make_shapes(-1, 1, 32, 0), Error);
  CHECK_THROWS_AS(make_shapes(1, 1, 4, 0), Error);
  Dataset d = make_shapes(3, 2, 16, 0);
  CHECK(d.train[0].image.size() == 3 * 16 * 16);
}

// =========================================================================================================
// Fashion-MNIST
// =========================================================================================================

TEST_CASE("data: fashion-mnist subset loads with labels, padding and captions") {
  if (!fashion_available()) {
    MESSAGE("Fashion-MNIST not installed at ", kFashionMnistDir, "; skipped");
    return;
  }
  Dataset d = load_fashion_mnist(kFashionMnistDir, 32, 1, 500, 200, 0);
  REQUIRE(d.train.size() == 500);
  REQUIRE(d.test.size() == 200);
  CHECK(d.channels == 1);
  CHECK(d.height == 32);
  REQUIRE(d.label_sets.size() == 1);
  CHECK(d.label_sets[0].name == "class");
  CHECK(d.label_sets[0].classes == kFashionClasses);
  CHECK(d.label_sets[0].templates.size() >= 4);
  std::set<int> labels;
  std::set<std::string> templates_used;
  for (auto& ex : d.train) {
    REQUIRE(ex.labels.size() == 1);
    CHECK(ex.labels[0] >= 0);
    CHECK(ex.labels[0] < 10);
    labels.insert(ex.labels[0]);
    REQUIRE(ex.image.size() == 32 * 32);
    for (float v : ex.image) REQUIRE((v >= -1.0f && v <= 1.0f));
    // Two pixels of zero padding on each side.
    for (int i = 0; i < 32; ++i) {
      CHECK(ex.image[i] == -1.0f);
      CHECK(ex.image[31 * 32 + i] == -1.0f);
      CHECK(ex.image[i * 32 + 1] == -1.0f);
      CHECK(ex.image[i * 32 + 30] == -1.0f);
    }
    const std::string& cls = kFashionClasses[static_cast<size_t>(ex.labels[0])];
    CHECK_MESSAGE(ex.caption.find(cls) != std::string::npos, ex.caption);
    std::string c = ex.caption;
    size_t p = c.find(cls);
    templates_used.insert(c.replace(p, cls.size(), "{}"));
  }
  CHECK(labels.size() == 10);
  CHECK(templates_used.size() >= 8);
  for (auto& ex : d.test) {
    const std::string& cls = kFashionClasses[static_cast<size_t>(ex.labels[0])];
    CHECK(ex.caption == fill_template("a photo of a {}", cls));
  }
  // Known first labels of the official files: train starts 9 (ankle boot), 0, 0, 3; test starts 9, 2, 1, 1.
  CHECK(d.train[0].labels[0] == 9);
  CHECK(d.train[1].labels[0] == 0);
  CHECK(d.train[3].labels[0] == 3);
  CHECK(d.test[0].labels[0] == 9);
  CHECK(d.test[1].labels[0] == 2);

  // Same seed: same captions; limits do not change the first examples; 3 channels replicate the grey.
  Dataset e = load_fashion_mnist(kFashionMnistDir, 32, 3, 100, 10, 0);
  for (size_t i = 0; i < 100; ++i) CHECK(e.train[i].caption == d.train[i].caption);
  REQUIRE(e.train[5].image.size() == 3 * 32 * 32);
  CHECK(std::equal(d.train[5].image.begin(), d.train[5].image.end(), e.train[5].image.begin() + 2 * 32 * 32));
  Dataset f = load_fashion_mnist(kFashionMnistDir, 32, 1, 100, 10, 1);
  int differ = 0;
  for (size_t i = 0; i < 100; ++i) differ += f.train[i].caption != d.train[i].caption;
  CHECK(differ > 50);

  // Smaller than 28: bilinear resize.
  Dataset s = load_fashion_mnist(kFashionMnistDir, 14, 1, 5, 5, 0);
  REQUIRE(s.train[0].image.size() == 14 * 14);
  for (float v : s.train[0].image) CHECK((v >= -1.0f && v <= 1.0f));
  // The 2x downscale with half-pixel centres averages 2x2 blocks: check one pixel.
  auto& full = d.train[0].image;
  float want = (full[(2 + 10) * 32 + 2 + 12] + full[(2 + 10) * 32 + 2 + 13] + full[(2 + 11) * 32 + 2 + 12] +
                full[(2 + 11) * 32 + 2 + 13]) / 4;
  CHECK(s.train[0].image[5 * 14 + 6] == doctest::Approx(want).epsilon(1e-5));
}

TEST_CASE("data: fashion-mnist full load (60000 / 10000)") {
  if (!fashion_available()) {
    MESSAGE("Fashion-MNIST not installed; skipped");
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  Dataset d = load_fashion_mnist(kFashionMnistDir, 32, 1, 0, 0, 0);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("fashion-mnist full load (32x32, 1 channel): ", secs, " s");
  REQUIRE(d.train.size() == 60000);
  REQUIRE(d.test.size() == 10000);
  std::vector<int> train_counts(10), test_counts(10);
  for (auto& ex : d.train) train_counts[static_cast<size_t>(ex.labels[0])]++;
  for (auto& ex : d.test) test_counts[static_cast<size_t>(ex.labels[0])]++;
  for (int c = 0; c < 10; ++c) {
    CHECK(train_counts[static_cast<size_t>(c)] == 6000);
    CHECK(test_counts[static_cast<size_t>(c)] == 1000);
  }
}

TEST_CASE("data: fashion-mnist errors name the file and the fault") {
  std::string msg = error_of([] { load_fashion_mnist("/nonexistent/fmnist", 32, 1, 0, 0, 0); });
  CHECK(msg.find("/nonexistent/fmnist") != std::string::npos);
  CHECK(msg.find("no such directory") != std::string::npos);

  TempDir dir;
  // Empty directory: the first missing file is named.
  msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 0, 0, 0); });
  CHECK(msg.find("train-images-idx3-ubyte.gz") != std::string::npos);
  CHECK(msg.find("not found") != std::string::npos);

  // Garbage (not even gzip): bad magic.
  write_text(dir / "train-images-idx3-ubyte.gz", std::string(64, '\0'));
  msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 0, 0, 0); });
  CHECK(msg == fmt::format("fashion-mnist: {}: bad magic 0x00000000 (expected 0x00000803)", dir / "train-images-idx3-ubyte.gz"));

  // A valid gzip with the right header but too few pixels: truncated.
  {
    gzFile f = gzopen((dir / "train-images-idx3-ubyte.gz").c_str(), "wb");
    REQUIRE(f != nullptr);
    const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(f, header, 16);
    std::vector<unsigned char> px(28 * 28 * 3, 7);  // 3 of the 10 images
    gzwrite(f, px.data(), static_cast<unsigned>(px.size()));
    gzclose(f);
  }
  msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 0, 0, 0); });
  CHECK(msg.find("train-images-idx3-ubyte.gz") != std::string::npos);
  CHECK(msg.find("truncated") != std::string::npos);
  // ... but a limit within the data present works until the labels file is needed.
  msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 3, 0, 0); });
  CHECK(msg.find("train-labels-idx1-ubyte.gz") != std::string::npos);
  CHECK(msg.find("not found") != std::string::npos);

  // A gzip stream cut short in the middle: corrupt or truncated, never silent.
  {
    std::string src = (fs::path(kFashionMnistDir) / "t10k-labels-idx1-ubyte.gz").string();
    if (fs::exists(src)) {
      std::ifstream in(src, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      write_text(dir / "train-labels-idx1-ubyte.gz", bytes.substr(0, bytes.size() / 2));
      msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 0, 0, 0); });  // images truncated first
      CHECK(msg.find("truncated") != std::string::npos);
      // Rewrite images with 10000 images so the labels file is read in full.
      gzFile f = gzopen((dir / "train-images-idx3-ubyte.gz").c_str(), "wb");
      const unsigned char header[16] = {0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28};
      gzwrite(f, header, 16);
      std::vector<unsigned char> all(28 * 28 * 10000, 1);
      gzwrite(f, all.data(), static_cast<unsigned>(all.size()));
      gzclose(f);
      msg = error_of([&] { load_fashion_mnist(dir.path.string(), 32, 1, 0, 0, 0); });
      CHECK(msg.find("train-labels-idx1-ubyte.gz") != std::string::npos);
      CHECK((msg.find("truncated") != std::string::npos || msg.find("corrupt") != std::string::npos));
    }
  }
  CHECK_THROWS_AS(load_fashion_mnist(kFashionMnistDir, 32, 2, 1, 1, 0), Error);
}

// =========================================================================================================
// Caption files
// =========================================================================================================

TEST_CASE("data: caption file (tsv) loads, resizes, normalises and splits") {
  TempDir dir;
  fs::create_directories(dir.path / "img");
  write_png(dir / "img/red.png", 40, 20, 255, 0, 0);
  write_png(dir / "img/green.png", 16, 16, 0, 255, 0);
  write_png(dir / "img/blue.png", 7, 9, 0, 0, 255);
  write_png(dir / "img/grey.png", 16, 16, 128, 128, 128);
  write_png(dir / "abs.png", 16, 16, 255, 255, 255);
  write_text(dir / "captions.tsv", "# my data\n"
                                   "image\tcaption\tlabel\n"
                                   "img/red.png\ta red thing\tred\n"
                                   "\n"
                                   "img/green.png\ta green thing\tgreen\r\n"
                                   "img/blue.png\ta blue thing\n"
                                   "img/grey.png\ta grey thing\tgrey\n" +
                                       (dir / "abs.png") + "\ta white thing\twhite\n");
  Dataset d = load_caption_file(dir / "captions.tsv", 16, 0.25, 0);
  CHECK(d.channels == 3);
  CHECK(d.height == 16);
  REQUIRE(d.train.size() == 4);  // every 4th (grey) goes to test
  REQUIRE(d.test.size() == 1);
  CHECK(d.train[0].caption == "a red thing");
  CHECK(d.train[1].caption == "a green thing");
  CHECK(d.train[2].caption == "a blue thing");
  CHECK(d.train[3].caption == "a white thing");
  CHECK(d.test[0].caption == "a grey thing");
  const size_t hw = 16 * 16;
  for (auto& ex : d.train) REQUIRE(ex.image.size() == 3 * hw);
  for (size_t i = 0; i < hw; ++i) {
    CHECK(d.train[0].image[i] == doctest::Approx(1.0f));
    CHECK(d.train[0].image[hw + i] == doctest::Approx(-1.0f));
    CHECK(d.train[1].image[hw + i] == doctest::Approx(1.0f));
    CHECK(d.train[2].image[2 * hw + i] == doctest::Approx(1.0f));
    CHECK(d.train[2].image[i] == doctest::Approx(-1.0f));
    CHECK(d.test[0].image[i] == doctest::Approx(128 / 255.0f * 2 - 1));
  }
  REQUIRE(d.label_sets.size() == 1);
  CHECK(d.label_sets[0].classes == std::vector<std::string>{"green", "grey", "red", "white"});
  CHECK(d.train[0].labels == std::vector<int>{2});
  CHECK(d.train[2].labels == std::vector<int>{-1});
  CHECK(d.test[0].labels == std::vector<int>{1});

  // No test split; grey conversion.
  Dataset g = load_caption_file(dir / "captions.tsv", 8, 0.0, 0, 1);
  CHECK(g.train.size() == 5);
  CHECK(g.test.empty());
  REQUIRE(g.train[0].image.size() == 64);
  CHECK(g.train[0].image[0] == doctest::Approx(std::round(0.299f * 255) / 255 * 2 - 1));

  // load_dataset dispatches on the extension.
  Dataset viaspec = load_dataset(dir / "captions.tsv", 16, 0, 0);
  CHECK(viaspec.train.size() + viaspec.test.size() == 5);
}

TEST_CASE("data: caption file (jsonl) loads") {
  TempDir dir;
  write_png(dir / "a.png", 10, 10, 255, 255, 0);
  write_png(dir / "b.png", 10, 10, 0, 255, 255);
  write_text(dir / "caps.jsonl", "{\"image\": \"a.png\", \"caption\": \"yellow square\"}\n"
                                 "\n"
                                 "{\"image\": \"b.png\", \"caption\": \"cyan square\", \"extra\": 1}\n");
  Dataset d = load_caption_file(dir / "caps.jsonl", 10, 0.0, 0);
  REQUIRE(d.train.size() == 2);
  CHECK(d.train[0].caption == "yellow square");
  CHECK(d.train[1].caption == "cyan square");
  CHECK(d.label_sets.empty());
  CHECK(d.train[0].labels.empty());
  CHECK(d.train[0].image[0] == doctest::Approx(1.0f));
  CHECK(d.train[0].image[200] == doctest::Approx(-1.0f));
}

TEST_CASE("data: caption file errors name the file and the line") {
  TempDir dir;
  write_png(dir / "ok.png", 8, 8, 10, 20, 30);
  write_text(dir / "bad.png", "this is not a png at all");

  write_text(dir / "missing.tsv", "image\tcaption\nok.png\tfine\n# comment\nnope/gone.png\tmissing image\n");
  std::string msg = error_of([&] { load_caption_file(dir / "missing.tsv", 8, 0.0, 0); });
  CHECK(msg.find("missing.tsv:4:") != std::string::npos);
  CHECK(msg.find("'nope/gone.png'") != std::string::npos);
  CHECK(msg.find("not found") != std::string::npos);

  write_text(dir / "corrupt.tsv", "ok.png\tfine\nok.png\tfine again\nbad.png\tbroken\n");
  msg = error_of([&] { load_caption_file(dir / "corrupt.tsv", 8, 0.0, 0); });
  CHECK(msg.find("corrupt.tsv:3: cannot decode 'bad.png': ") != std::string::npos);
  CHECK(msg.size() > msg.find("'bad.png': ") + 11);  // stb's reason follows

  write_text(dir / "malformed.tsv", "ok.png\tfine\nok.png fine without a tab\n");
  msg = error_of([&] { load_caption_file(dir / "malformed.tsv", 8, 0.0, 0); });
  CHECK(msg.find("malformed.tsv:2:") != std::string::npos);
  CHECK(msg.find("malformed") != std::string::npos);

  write_text(dir / "emptycap.tsv", "ok.png\t \n");
  msg = error_of([&] { load_caption_file(dir / "emptycap.tsv", 8, 0.0, 0); });
  CHECK(msg.find("emptycap.tsv:1:") != std::string::npos);

  write_text(dir / "bad.jsonl", "{\"image\": \"ok.png\", \"caption\": \"x\"}\n{\"image\": \"ok.png\"\n");
  msg = error_of([&] { load_caption_file(dir / "bad.jsonl", 8, 0.0, 0); });
  CHECK(msg.find("bad.jsonl:2:") != std::string::npos);

  write_text(dir / "nocap.jsonl", "{\"image\": \"ok.png\", \"caption\": \"x\"}\n\n{\"image\": \"ok.png\", \"text\": \"y\"}\n");
  msg = error_of([&] { load_caption_file(dir / "nocap.jsonl", 8, 0.0, 0); });
  CHECK(msg.find("nocap.jsonl:3:") != std::string::npos);
  CHECK(msg.find("caption") != std::string::npos);

  msg = error_of([&] { load_caption_file(dir / "absent.tsv", 8, 0.0, 0); });
  CHECK(msg.find("absent.tsv") != std::string::npos);
  write_text(dir / "empty.tsv", "# nothing\n");
  CHECK(error_of([&] { load_caption_file(dir / "empty.tsv", 8, 0.0, 0); }).find("no examples") != std::string::npos);
  CHECK_THROWS_AS(load_caption_file(dir / "x.csv", 8, 0.0, 0), Error);
}

TEST_CASE("data: caption text parses as the file: trimmed fields, header, comments, BOM, CRLF, labels, line numbers") {
  const std::string tsv = "\xEF\xBB\xBFimage\tcaption\tlabel\r\n# comment\r\n\r\n a.png \t a cat \tcat\r\n"
                          "/abs/b.png\tb\r\nimage\tcaption\n";
  const std::vector<CaptionRecord> r = parse_caption_text(tsv, "dir/c.tsv", CaptionFormat::kTsv);
  REQUIRE(r.size() == 3);
  CHECK(r[0].line == 4);
  CHECK(r[0].image == "a.png");
  CHECK(r[0].path == "dir/a.png");
  CHECK(r[0].caption == "a cat");
  CHECK((r[0].has_label && r[0].label == "cat"));
  CHECK(r[1].path == "/abs/b.png");
  CHECK(!r[1].has_label);
  CHECK((r[2].line == 6 && r[2].image == "image"));  // a header-like line after an entry is an entry
  TempDir dir;
  write_text(dir / "c.tsv", tsv);
  const std::vector<CaptionRecord> from_file = read_caption_file(dir / "c.tsv");
  REQUIRE(from_file.size() == r.size());
  for (size_t i = 0; i < r.size(); ++i) CHECK((from_file[i].line == r[i].line && from_file[i].caption == r[i].caption));

  const std::vector<CaptionRecord> j = parse_caption_text(
      "{\"image\": \"x.jpg\", \"caption\": \"tab\\there\", \"label\": 4}\n", "d.jsonl", CaptionFormat::kJsonl);
  REQUIRE(j.size() == 1);
  CHECK(j[0].caption == "tab\there");
  CHECK(j[0].label == "4");
  CHECK(error_of([] { parse_caption_text("a\tb\n\nc\n", "e.tsv", CaptionFormat::kTsv); })
            .starts_with("data: e.tsv:3: malformed line: expected 'image<TAB>caption[<TAB>label]', found 1 field (no tab)"));
  CHECK(error_of([] { caption_format_of("x.csv"); }).starts_with("data: x.csv: unknown caption file type '.csv'"));
}

TEST_CASE("data: load_dataset dispatch") {
  Dataset s = load_dataset("shapes:12:4", 16, 0, 5);
  CHECK(s.name == "shapes");
  CHECK(s.train.size() == 12);
  CHECK(s.test.size() == 4);
  CHECK(s.train[3].image == make_shapes(12, 4, 16, 5).train[3].image);
  CHECK_THROWS_AS(load_dataset("shapes:12", 16, 3, 5), Error);
  CHECK_THROWS_AS(load_dataset("shapes:1:2", 16, 1, 5), Error);  // shapes are RGB
  std::string msg = error_of([] { load_dataset("imagenet", 16, 3, 0); });
  CHECK(msg.find("imagenet") != std::string::npos);
  if (fashion_available()) {
    Dataset f = load_dataset("fashion-mnist:20:10", 32, 0, 0);
    CHECK(f.channels == 1);
    CHECK(f.train.size() == 20);
    CHECK(f.test.size() == 10);
  }
}

// =========================================================================================================
// Tokenizer
// =========================================================================================================

TEST_CASE("tokenizer: canonicalisation as SigLIP") {
  CHECK(Tokenizer::canonicalize("Hello,  World!") == "hello world");
  CHECK(Tokenizer::canonicalize("  A photo of a T-Shirt. ") == "a photo of a tshirt");
  CHECK(Tokenizer::canonicalize("snake_case\tand\nnewlines") == "snake case and newlines");
  CHECK(Tokenizer::canonicalize("it's (really) \"quoted\" - ok?") == "its really quoted ok");
  CHECK(Tokenizer::canonicalize("café ÜBER") == "café Über");  // non-ASCII bytes kept as they are
  CHECK(Tokenizer::canonicalize("") == "");
  CHECK(Tokenizer::canonicalize("?!") == "");
}

TEST_CASE("tokenizer: vocabulary order, encode and decode") {
  Tokenizer t = Tokenizer::build({"a red circle", "A blue circle!", "a red square", "zebra"});
  // counts: a 3, circle 2, red 2, blue 1, square 1, zebra 1
  REQUIRE(t.vocab_size() == 8);
  CHECK(t.vocab() == std::vector<std::string>{"</s>", "<unk>", "a", "circle", "red", "blue", "square", "zebra"});
  CHECK(t.eos_id() == 0);
  CHECK(t.unk_id() == 1);
  CHECK(t.encode("A red circle.", 6) == std::vector<int64_t>{2, 4, 3, 0, 0, 0});
  CHECK(t.encode("a green circle", 4) == std::vector<int64_t>{2, 1, 3, 0});
  // Too long: truncated, eos kept last.
  CHECK(t.encode("a red circle a blue square", 4) == std::vector<int64_t>{2, 4, 3, 0});
  CHECK(t.encode("a red circle", 1) == std::vector<int64_t>{0});
  CHECK(t.encode("", 3) == std::vector<int64_t>{0, 0, 0});
  CHECK(t.decode(t.encode("a  Red circle", 8)) == "a red circle");
  CHECK(t.decode({2, 1, 3}) == "a <unk> circle");
  CHECK_THROWS_AS(t.decode({99}), Error);
  CHECK_THROWS_AS(t.encode("x", 0), Error);

  Tokenizer small = Tokenizer::build({"a red circle", "A blue circle!", "a red square", "zebra"}, 4);
  CHECK(small.vocab() == std::vector<std::string>{"</s>", "<unk>", "a", "circle"});
  Tokenizer frequent = Tokenizer::build({"a red circle", "A blue circle!", "a red square", "zebra"}, 100, 2);
  CHECK(frequent.vocab() == std::vector<std::string>{"</s>", "<unk>", "a", "circle", "red"});
  CHECK(frequent.encode("zebra", 2) == std::vector<int64_t>{1, 0});
}

TEST_CASE("tokenizer: save / load round trip and errors") {
  TempDir dir;
  Dataset d = make_shapes(200, 0, 16, 0);
  std::vector<std::string> caps;
  for (auto& ex : d.train) caps.push_back(ex.caption);
  Tokenizer t = Tokenizer::build(caps);
  t.save(dir / "tok.json");
  t.save(dir / "tok.json");  // overwrite
  int files = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path)) ++files;
  CHECK(files == 1);  // no temporary left behind
  Tokenizer u = Tokenizer::load(dir / "tok.json");
  CHECK(u.vocab() == t.vocab());
  for (auto& c : caps) CHECK(u.encode(c, 16) == t.encode(c, 16));
  for (auto& name : kShapeNames) CHECK(t.id_of(name) != t.unk_id());
  for (auto& name : kColourNames) CHECK(t.id_of(name) != t.unk_id());

  std::string msg = error_of([&] { Tokenizer::load(dir / "nope.json"); });
  CHECK(msg.find("nope.json") != std::string::npos);
  write_text(dir / "bad.json", "{\"type\": \"word\", \"vocab\": [");
  msg = error_of([&] { Tokenizer::load(dir / "bad.json"); });
  CHECK(msg.find("bad.json") != std::string::npos);
  CHECK(msg.find("invalid JSON") != std::string::npos);
  write_text(dir / "bpe.json", "{\"type\": \"bpe\", \"vocab\": []}");
  CHECK(error_of([&] { Tokenizer::load(dir / "bpe.json"); }).find("bpe.json") != std::string::npos);
  write_text(dir / "nospecial.json", "{\"type\": \"word\", \"vocab\": [\"a\", \"b\"]}");
  CHECK(error_of([&] { Tokenizer::load(dir / "nospecial.json"); }).find("nospecial.json") != std::string::npos);
  write_text(dir / "dup.json", "{\"type\": \"word\", \"vocab\": [\"</s>\", \"<unk>\", \"a\", \"a\"]}");
  CHECK(error_of([&] { Tokenizer::load(dir / "dup.json"); }).find("duplicate") != std::string::npos);
  CHECK_THROWS_AS(t.save((dir.path / "no/such/dir/tok.json").string()), Error);
}

// =========================================================================================================
// Loader
// =========================================================================================================

namespace {
// n examples; example i's image is filled with i, its caption names word i % 5, its label is i % 3.
std::vector<Example> numbered_examples(int n, int C = 1, int H = 2, int W = 3) {
  const char* names[5] = {"zero", "one", "two", "three", "four"};
  std::vector<Example> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    v[static_cast<size_t>(i)].image.assign(static_cast<size_t>(C) * H * W, static_cast<float>(i));
    v[static_cast<size_t>(i)].caption = fmt::format("number {} is {}", names[i % 5], i);
    v[static_cast<size_t>(i)].labels = {i % 3};
  }
  return v;
}
// The example index of each row of a batch (from the image).
std::vector<int> rows_of(const Batch& b) {
  std::vector<int> r;
  const int64_t per = b.images.numel() / b.images.size(0);
  for (int64_t k = 0; k < b.images.size(0); ++k) r.push_back(static_cast<int>(b.images.data<float>()[k * per]));
  return r;
}
bool same_batch(const Batch& a, const Batch& b) {
  return a.images.to_vector<float>() == b.images.to_vector<float>() && a.ids.to_vector<int64_t>() == b.ids.to_vector<int64_t>() &&
         a.labels == b.labels && a.captions == b.captions;
}
}  // namespace

TEST_CASE("loader: batches hold the right examples, ids and labels") {
  auto ex = numbered_examples(20);
  std::vector<std::string> caps;
  for (auto& e : ex) caps.push_back(e.caption);
  Tokenizer tok = Tokenizer::build(caps);
  BatchLoader L(ex, tok, 4, 6, 1, 2, 3, 42);
  CHECK(L.batches_per_epoch() == 5);
  Batch b = L.next();
  CHECK(b.images.shape() == Shape{4, 1, 2, 3});
  CHECK(b.images.dtype() == DType::F32);
  CHECK(b.ids.shape() == Shape{4, 6});
  CHECK(b.ids.dtype() == DType::I64);
  auto rows = rows_of(b);
  auto ids = b.ids.to_vector<int64_t>();
  auto order = L.epoch_order(0);
  for (int k = 0; k < 4; ++k) {
    int i = rows[static_cast<size_t>(k)];
    CHECK(i == static_cast<int>(order[static_cast<size_t>(k)]));
    auto want = tok.encode(ex[static_cast<size_t>(i)].caption, 6);
    CHECK(std::vector<int64_t>(ids.begin() + k * 6, ids.begin() + (k + 1) * 6) == want);
    CHECK(b.labels[static_cast<size_t>(k)] == i % 3);
    CHECK(b.captions[static_cast<size_t>(k)] == ex[static_cast<size_t>(i)].caption);
  }
}

TEST_CASE("loader: same seed same batches, different seed different order") {
  auto ex = numbered_examples(23);
  Tokenizer tok = Tokenizer::build({"number"});
  BatchLoader a(ex, tok, 5, 8, 1, 2, 3, 7), b(ex, tok, 5, 8, 1, 2, 3, 7, 1), c(ex, tok, 5, 8, 1, 2, 3, 8);
  int differs = 0;
  for (int i = 0; i < 12; ++i) {  // three epochs of 4 batches
    Batch x = a.next(), y = b.next(), z = c.next();
    CHECK(same_batch(x, y));
    differs += rows_of(x) != rows_of(z);
  }
  CHECK(differs > 6);
}

TEST_CASE("loader: epochs roll over, each a fresh shuffle, partial batch dropped") {
  auto ex = numbered_examples(10);
  Tokenizer tok = Tokenizer::build({"number"});
  BatchLoader L(ex, tok, 3, 4, 1, 2, 3, 1);
  REQUIRE(L.batches_per_epoch() == 3);
  std::vector<std::vector<int>> epochs(3);
  for (uint64_t e = 0; e < 3; ++e)
    for (uint64_t i = 0; i < 3; ++i) {
      CHECK(L.position() == BatchLoader::Position{e, i});
      auto r = rows_of(L.next());
      epochs[e].insert(epochs[e].end(), r.begin(), r.end());
    }
  CHECK(L.position() == BatchLoader::Position{3, 0});
  for (uint64_t e = 0; e < 3; ++e) {
    std::set<int> distinct(epochs[e].begin(), epochs[e].end());
    CHECK(distinct.size() == 9);  // 9 of 10 examples, none twice
    auto order = L.epoch_order(e);
    CHECK(std::equal(epochs[e].begin(), epochs[e].end(), order.begin(),
                     [](int a, uint32_t b) { return a == static_cast<int>(b); }));
  }
  CHECK(epochs[0] != epochs[1]);
  CHECK(epochs[1] != epochs[2]);
}

TEST_CASE("loader: seek(position) reproduces the uninterrupted sequence") {
  auto ex = numbered_examples(17);
  Tokenizer tok = Tokenizer::build({"number"});
  std::vector<Batch> ref;
  {
    BatchLoader L(ex, tok, 4, 5, 1, 2, 3, 99, 3);
    for (int i = 0; i < 14; ++i) ref.push_back(L.next());
  }
  // Interrupted run: take 6, remember the position, wander off, seek back.
  BatchLoader L(ex, tok, 4, 5, 1, 2, 3, 99, 3);
  for (int i = 0; i < 6; ++i) CHECK(same_batch(L.next(), ref[static_cast<size_t>(i)]));
  BatchLoader::Position p = L.position();
  CHECK(p == BatchLoader::Position{1, 2});
  for (int i = 0; i < 5; ++i) L.next();
  L.seek(p);
  CHECK(L.position() == p);
  for (int i = 6; i < 14; ++i) CHECK(same_batch(L.next(), ref[static_cast<size_t>(i)]));
  // A fresh loader (a resumed process) seeking to a saved position.
  BatchLoader M(ex, tok, 4, 5, 1, 2, 3, 99);
  M.seek(BatchLoader::Position{2, 1});
  for (int i = 9; i < 14; ++i) CHECK(same_batch(M.next(), ref[static_cast<size_t>(i)]));
  // An index past the epoch's end rolls over.
  M.seek(BatchLoader::Position{0, 9});
  CHECK(M.position() == BatchLoader::Position{2, 1});
  CHECK(same_batch(M.next(), ref[9]));
  M.seek(BatchLoader::Position{});
  CHECK(same_batch(M.next(), ref[0]));
}

TEST_CASE("loader: concurrent consumers share one sequence; destruction with a full queue") {
  auto ex = numbered_examples(40);
  Tokenizer tok = Tokenizer::build({"number"});
  std::vector<std::vector<int>> ref;
  {
    BatchLoader L(ex, tok, 2, 4, 1, 2, 3, 5);
    for (int i = 0; i < 60; ++i) ref.push_back(rows_of(L.next()));
  }
  BatchLoader L(ex, tok, 2, 4, 1, 2, 3, 5);
  std::vector<std::vector<int>> got1, got2;
  std::thread t1([&] {
    for (int i = 0; i < 30; ++i) got1.push_back(rows_of(L.next()));
  });
  std::thread t2([&] {
    for (int i = 0; i < 30; ++i) got2.push_back(rows_of(L.next()));
  });
  t1.join();
  t2.join();
  std::multiset<std::vector<int>> all(got1.begin(), got1.end()), want(ref.begin(), ref.end());
  all.insert(got2.begin(), got2.end());
  CHECK(all == want);
  CHECK(L.position() == BatchLoader::Position{3, 0});
  // Loaders destroyed with a full queue and a blocked worker join promptly.
  for (int i = 0; i < 20; ++i) {
    BatchLoader tmp(ex, tok, 2, 4, 1, 2, 3, static_cast<uint64_t>(i), 1);
    if (i % 2) tmp.next();
  }
}

TEST_CASE("loader: rejects bad arguments") {
  auto ex = numbered_examples(5);
  Tokenizer tok = Tokenizer::build({"number"});
  CHECK_THROWS_AS(BatchLoader(ex, tok, 6, 4, 1, 2, 3, 0), Error);  // no full batch
  CHECK_THROWS_AS(BatchLoader(ex, tok, 0, 4, 1, 2, 3, 0), Error);
  CHECK_THROWS_AS(BatchLoader(ex, tok, 2, 0, 1, 2, 3, 0), Error);
  std::string msg = error_of([&] { BatchLoader(ex, tok, 2, 4, 3, 2, 3, 0); });
  CHECK(msg.find("example 0") != std::string::npos);
  BatchLoader ok(ex, tok, 5, 4, 1, 2, 3, 0);
  CHECK(ok.batches_per_epoch() == 1);
}
