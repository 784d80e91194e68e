// data.cpp: the shapes generator, the Fashion-MNIST IDX reader and the caption-file loader (see data.h).
#include "siglip/data.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "siglip/shard_spec.h"
#include "siglip/webdataset.h"
#include "tensor/tensor.h"

namespace sg {
namespace fs = std::filesystem;

namespace {

// A seed for stream (a, b, c) of `seed`: distinct streams are independent for all practical purposes.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0) {
  return splitmix64(splitmix64(splitmix64(seed) ^ (a * 0x9e3779b97f4a7c15ull)) ^ (b + 0x632be59bd9b4e019ull));
}

int rand_int(Generator& g, int n) { return static_cast<int>(g.next_u64() % static_cast<uint64_t>(n)); }
double rand_range(Generator& g, double lo, double hi) { return lo + (hi - lo) * g.uniform(); }

float to_unit(float v255) { return v255 / 255.0f * 2.0f - 1.0f; }

bool starts_with_vowel(const std::string& w) {
  if (w.empty()) return false;
  char c = static_cast<char>(std::tolower(static_cast<unsigned char>(w[0])));
  return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
}

}  // namespace

std::string fill_template(const std::string& tmpl, const std::string& word) {
  size_t pos = tmpl.find("{}");
  SG_CHECK(pos != std::string::npos, "fill_template: template '{}' has no '{{}}'", tmpl);
  std::string head = tmpl.substr(0, pos), tail = tmpl.substr(pos + 2);
  auto article_at = [&](const char* art) {  // head ends with the word `art` followed by one space
    size_t n = std::strlen(art);
    if (head.size() < n + 1 || head.compare(head.size() - n - 1, n + 1, std::string(art) + " ") != 0) return false;
    return head.size() == n + 1 || head[head.size() - n - 2] == ' ';
  };
  if (starts_with_vowel(word) && article_at("a")) {
    head.insert(head.size() - 1, 1, 'n');
  } else if (!starts_with_vowel(word) && article_at("an")) {
    head.erase(head.size() - 2, 1);
  }
  return head + word + tail;
}

// =========================================================================================================
// shapes
// =========================================================================================================

const std::vector<std::string> kShapeNames = {"circle", "square", "triangle", "diamond", "cross", "ring"};
const std::vector<std::string> kColourNames = {"red", "green", "blue", "yellow", "purple", "orange"};

namespace {

const float kColourRGB[6][3] = {{220, 40, 40},  {40, 180, 60},  {50, 90, 235},
                                {235, 215, 40}, {150, 60, 200}, {245, 135, 25}};
const char* const kSizeNames[2] = {"small", "large"};
const char* const kRelations[4] = {"left of", "right of", "above", "below"};
const std::vector<std::string> kSingleTemplates = {"{}",          "a picture of {}", "a photo of {}",
                                                   "there is {}", "an image of {}",  "{} in the picture"};
const std::vector<std::string> kPairTemplates = {"{}", "a picture of {}", "there is {}", "an image of {}"};

// Is the point (u, v) (object-local, in units of the radius, v pointing down) inside the shape?
bool inside(int shape, float u, float v) {
  float au = std::fabs(u), av = std::fabs(v);
  switch (shape) {
    case 0: return u * u + v * v <= 1.0f;                                       // circle
    case 1: return au <= 0.85f && av <= 0.85f;                                  // square
    case 2: return v <= 0.8f && v >= -1.0f && au <= 0.95f * (v + 1.0f) / 1.8f;  // triangle, apex up
    case 3: return au + av <= 1.0f;                                             // diamond
    case 4: return (au <= 0.3f && av <= 1.0f) || (av <= 0.3f && au <= 1.0f);   // cross (plus sign)
    case 5: {                                                                   // ring
      float d2 = u * u + v * v;
      return d2 <= 1.0f && d2 >= 0.55f * 0.55f;
    }
  }
  return false;
}

struct Object {
  int shape, colour, size;
  float r, cx, cy;
  float rgb[3];
};

Object draw_object(Generator& g, int S) {
  Object o{};
  o.shape = rand_int(g, static_cast<int>(kShapeNames.size()));
  o.colour = rand_int(g, static_cast<int>(kColourNames.size()));
  o.size = rand_int(g, 2);
  o.r = static_cast<float>(S * (o.size == 0 ? rand_range(g, 0.15, 0.18) : rand_range(g, 0.21, 0.25)));
  for (int c = 0; c < 3; ++c)
    o.rgb[c] = std::clamp(kColourRGB[o.colour][c] + static_cast<float>(rand_range(g, -15, 15)), 0.0f, 255.0f);
  return o;
}

void render(const Object& o, int S, std::vector<float>& canvas) {
  const int ss = 4;
  int x0 = std::max(0, static_cast<int>(std::floor(o.cx - o.r))), x1 = std::min(S - 1, static_cast<int>(std::ceil(o.cx + o.r)));
  int y0 = std::max(0, static_cast<int>(std::floor(o.cy - o.r))), y1 = std::min(S - 1, static_cast<int>(std::ceil(o.cy + o.r)));
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x) {
      int hits = 0;
      for (int j = 0; j < ss; ++j)
        for (int i = 0; i < ss; ++i) {
          float u = (x + (i + 0.5f) / ss - o.cx) / o.r, v = (y + (j + 0.5f) / ss - o.cy) / o.r;
          hits += inside(o.shape, u, v);
        }
      if (hits == 0) continue;
      float a = static_cast<float>(hits) / (ss * ss);
      for (int c = 0; c < 3; ++c) {
        float& p = canvas[(static_cast<size_t>(c) * S + y) * S + x];
        p = p * (1 - a) + o.rgb[c] * a;
      }
    }
}

std::string phrase_full(const Object& o) {
  return fmt::format("a {} {} {}", kSizeNames[o.size], kColourNames[o.colour], kShapeNames[o.shape]);
}

// canonical: the caption is the object's full phrase "a {size} {colour} {shape}" (the held-out split's captions).
Example make_shape_example(Generator& g, int S, bool two, bool canonical) {
  std::vector<float> canvas(static_cast<size_t>(3) * S * S);
  float bg[3];
  for (auto& b : bg) b = static_cast<float>(rand_range(g, 0, 60));
  double sigma = g.uniform() < 0.5 ? rand_range(g, 4, 16) : 0.0;
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < S * S; ++i)
      canvas[static_cast<size_t>(c) * S * S + i] = bg[c] + (sigma > 0 ? static_cast<float>(sigma * g.normal()) : 0.0f);

  Example ex;
  Object a = draw_object(g, S);
  if (!two) {
    a.cx = static_cast<float>(rand_range(g, a.r, S - a.r));
    a.cy = static_cast<float>(rand_range(g, a.r, S - a.r));
    render(a, S, canvas);
    double p = g.uniform();
    std::string phrase;
    if (p < 0.55) phrase = phrase_full(a);
    else if (p < 0.75) phrase = fmt::format("a {} {}", kColourNames[a.colour], kShapeNames[a.shape]);
    else if (p < 0.80) phrase = fmt::format("a {} {}", kSizeNames[a.size], kShapeNames[a.shape]);
    else if (p < 0.90) phrase = fmt::format("a {}", kShapeNames[a.shape]);
    else phrase = fmt::format("a {} shape", kColourNames[a.colour]);
    ex.caption = fill_template(kSingleTemplates[rand_int(g, static_cast<int>(kSingleTemplates.size()))], phrase);
    if (canonical) ex.caption = phrase_full(a);
  } else {
    Object b;
    do b = draw_object(g, S);
    while (b.shape == a.shape && b.colour == a.colour);
    int rel = rand_int(g, 4);
    float half = S / 2.0f;
    // Along the relation's axis: subject in the named half, the other object in the other half.
    auto in_half = [&](const Object& o, bool first_half) {
      return first_half ? static_cast<float>(rand_range(g, o.r, half - o.r))
                        : static_cast<float>(rand_range(g, half + o.r, S - o.r));
    };
    auto anywhere = [&](const Object& o) { return static_cast<float>(rand_range(g, o.r, S - o.r)); };
    bool a_first = rel == 0 || rel == 2;  // left of / above: the subject takes the low-coordinate half
    if (rel < 2) {
      a.cx = in_half(a, a_first), b.cx = in_half(b, !a_first);
      a.cy = anywhere(a), b.cy = anywhere(b);
    } else {
      a.cy = in_half(a, a_first), b.cy = in_half(b, !a_first);
      a.cx = anywhere(a), b.cx = anywhere(b);
    }
    render(a, S, canvas);
    render(b, S, canvas);
    std::string phrase = fmt::format("{} {} {}", phrase_full(a), kRelations[rel], phrase_full(b));
    ex.caption = fill_template(kPairTemplates[rand_int(g, static_cast<int>(kPairTemplates.size()))], phrase);
    if (canonical) ex.caption = phrase;
  }
  ex.labels = {a.shape, a.colour};
  ex.image.resize(canvas.size());
  for (size_t i = 0; i < canvas.size(); ++i) ex.image[i] = to_unit(std::round(std::clamp(canvas[i], 0.0f, 255.0f)));
  return ex;
}

std::vector<Example> make_shape_split(int n, int S, uint64_t seed, uint64_t stream, double p_two, bool canonical) {
  std::vector<Example> out(static_cast<size_t>(n));
#pragma omp parallel for schedule(dynamic, 64)
  for (int i = 0; i < n; ++i) {
    Generator g(derive_seed(seed, stream, static_cast<uint64_t>(i)));  // per-example stream: thread-count independent
    bool two = g.uniform() < p_two;
    out[static_cast<size_t>(i)] = make_shape_example(g, S, two, canonical);
  }
  return out;
}

}  // namespace

Dataset make_shapes(int n_train, int n_test, int image_size, uint64_t seed, double p_two_train, double p_two_test) {
  SG_CHECK(n_train >= 0 && n_test >= 0, "shapes: negative example count (train {}, test {})", n_train, n_test);
  SG_CHECK(image_size >= 8, "shapes: image_size {} is too small (need >= 8)", image_size);
  SG_CHECK(p_two_train >= 0 && p_two_train <= 1 && p_two_test >= 0 && p_two_test <= 1,
           "shapes: two-object probabilities must lie in [0, 1] (got {} and {})", p_two_train, p_two_test);
  Dataset d;
  d.name = "shapes";
  d.channels = 3;
  d.height = d.width = image_size;
  d.train = make_shape_split(n_train, image_size, seed, 1, p_two_train, false);
  d.test = make_shape_split(n_test, image_size, seed, 2, p_two_test, true);
  d.label_sets.push_back({"shape", kShapeNames, {"a {}", "a picture of a {}", "a photo of a {}", "there is a {}"}});
  d.label_sets.push_back({"colour",
                          kColourNames,
                          {"a {} shape", "a picture of a {} shape", "a photo of a {} shape", "there is a {} shape"}});
  return d;
}

// =========================================================================================================
// Fashion-MNIST
// =========================================================================================================

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
const std::vector<std::string> kFashionClasses = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                                  "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};

namespace {

const std::vector<std::string> kFashionTrainTemplates = {
    "a photo of a {}",          "a black and white picture of a {}", "a grayscale photo of a {}",
    "a low resolution photo of a {}", "a picture of a {}",          "an image of a {}",
    "a product photo of a {}",  "a {} on a black background",        "a centered photo of a {}",
    "a small picture of a {}",  "this is a {}",                      "a pixelated image of a {}"};

// A gzip file read sequentially (zlib's gzread also reads uncompressed files as they are).
struct GzFile {
  std::string path;
  gzFile f = nullptr;
  explicit GzFile(const std::string& p) : path(p) {
    if (!fs::exists(p)) fail("fashion-mnist: {}: file not found", p);
    f = gzopen(p.c_str(), "rb");
    if (!f) fail("fashion-mnist: {}: cannot open ({})", p, std::strerror(errno));
    gzbuffer(f, 1 << 18);
  }
  ~GzFile() {
    if (f) gzclose(f);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads exactly n bytes or throws naming `what`.
  void read(void* dst, size_t n, const char* what) {
    size_t got = 0;
    auto* p = static_cast<unsigned char*>(dst);
    while (got < n) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - got, size_t(1) << 24));
      int r = gzread(f, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f, &code);
        fail("fashion-mnist: {}: corrupt gzip data while reading {} ({})", path, what, msg ? msg : "?");
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    if (got < n) {
      int code = 0;
      const char* msg = gzerror(f, &code);
      fail("fashion-mnist: {}: truncated: {} needs {} bytes, file has {}{}", path, what, n, got,
           code != Z_OK && msg ? fmt::format(" ({})", msg) : std::string());
    }
  }
  uint32_t read_u32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
  }
};

struct IdxImages {
  size_t n = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // n * rows * cols
};

IdxImages read_idx_images(const std::string& path, size_t limit) {
  GzFile f(path);
  uint32_t magic = f.read_u32("the header");
  if (magic != 0x00000803u) fail("fashion-mnist: {}: bad magic 0x{:08x} (expected 0x00000803)", path, magic);
  IdxImages im;
  uint32_t n = f.read_u32("the header");
  uint32_t rows = f.read_u32("the header"), cols = f.read_u32("the header");
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096)
    fail("fashion-mnist: {}: implausible image size {}x{}", path, rows, cols);
  im.n = limit ? std::min<size_t>(limit, n) : n;
  im.rows = static_cast<int>(rows), im.cols = static_cast<int>(cols);
  im.pixels.resize(im.n * rows * cols);
  f.read(im.pixels.data(), im.pixels.size(), fmt::format("{} images of {}x{}", im.n, rows, cols).c_str());
  return im;
}

std::vector<uint8_t> read_idx_labels(const std::string& path, size_t limit) {
  GzFile f(path);
  uint32_t magic = f.read_u32("the header");
  if (magic != 0x00000801u) fail("fashion-mnist: {}: bad magic 0x{:08x} (expected 0x00000801)", path, magic);
  uint32_t n = f.read_u32("the header");
  std::vector<uint8_t> labels(limit ? std::min<size_t>(limit, n) : n);
  f.read(labels.data(), labels.size(), fmt::format("{} labels", labels.size()).c_str());
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= kFashionClasses.size())
      fail("fashion-mnist: {}: label {} of example {} is out of range [0, {})", path, labels[i], i, kFashionClasses.size());
  return labels;
}

// One grey image (rows x cols bytes) -> [channels, S, S] in [-1, 1]: centred zero-padding when it fits,
// bilinear resampling (half-pixel centres) otherwise.
void grey_to_example(const uint8_t* src, int rows, int cols, int S, int channels, std::vector<float>& out) {
  out.assign(static_cast<size_t>(channels) * S * S, -1.0f);
  float* o = out.data();
  if (S >= rows && S >= cols) {
    int oy = (S - rows) / 2, ox = (S - cols) / 2;
    for (int y = 0; y < rows; ++y)
      for (int x = 0; x < cols; ++x) o[static_cast<size_t>(y + oy) * S + x + ox] = to_unit(src[y * cols + x]);
  } else {
    float sy = static_cast<float>(rows) / S, sx = static_cast<float>(cols) / S;
    for (int y = 0; y < S; ++y) {
      float fy = std::clamp((y + 0.5f) * sy - 0.5f, 0.0f, static_cast<float>(rows - 1));
      int y0 = static_cast<int>(fy), y1 = std::min(y0 + 1, rows - 1);
      float wy = fy - y0;
      for (int x = 0; x < S; ++x) {
        float fx = std::clamp((x + 0.5f) * sx - 0.5f, 0.0f, static_cast<float>(cols - 1));
        int x0 = static_cast<int>(fx), x1 = std::min(x0 + 1, cols - 1);
        float wx = fx - x0;
        float v = (1 - wy) * ((1 - wx) * src[y0 * cols + x0] + wx * src[y0 * cols + x1]) +
                  wy * ((1 - wx) * src[y1 * cols + x0] + wx * src[y1 * cols + x1]);
        o[static_cast<size_t>(y) * S + x] = to_unit(v);
      }
    }
  }
  for (int c = 1; c < channels; ++c) std::copy(o, o + static_cast<size_t>(S) * S, o + static_cast<size_t>(c) * S * S);
}

std::vector<Example> load_fashion_split(const std::string& dir, const char* prefix, size_t limit, int S, int channels,
                                        Generator* caption_rng, int& rows, int& cols) {
  std::string ip = (fs::path(dir) / fmt::format("{}-images-idx3-ubyte.gz", prefix)).string();
  std::string lp = (fs::path(dir) / fmt::format("{}-labels-idx1-ubyte.gz", prefix)).string();
  IdxImages im = read_idx_images(ip, limit);
  std::vector<uint8_t> labels = read_idx_labels(lp, limit);
  if (labels.size() != im.n)
    fail("fashion-mnist: {}: {} labels for {} images in {}", lp, labels.size(), im.n, ip);
  rows = im.rows, cols = im.cols;
  std::vector<Example> out(im.n);
  for (size_t i = 0; i < im.n; ++i) {  // captions drawn in order: example i's caption does not depend on the limit
    const std::string& cls = kFashionClasses[labels[i]];
    const std::string& t = caption_rng ? kFashionTrainTemplates[rand_int(*caption_rng, static_cast<int>(kFashionTrainTemplates.size()))]
                                       : kFashionTrainTemplates[0];
    out[i].caption = fill_template(t, cls);
    out[i].labels = {labels[i]};
  }
  const size_t npix = static_cast<size_t>(im.rows) * im.cols;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < static_cast<int64_t>(im.n); ++i)
    grey_to_example(im.pixels.data() + static_cast<size_t>(i) * npix, im.rows, im.cols, S, channels, out[i].image);
  return out;
}

}  // namespace

Dataset load_fashion_mnist(const std::string& dir, int image_size, int channels, size_t limit_train, size_t limit_test,
                           uint64_t seed) {
  SG_CHECK(channels == 1 || channels == 3, "fashion-mnist: channels must be 1 or 3 (got {})", channels);
  SG_CHECK(image_size >= 4, "fashion-mnist: image_size {} is too small (need >= 4)", image_size);
  if (!fs::is_directory(dir)) fail("fashion-mnist: {}: no such directory", dir);
  Dataset d;
  d.name = "fashion-mnist";
  d.channels = channels;
  d.height = d.width = image_size;
  Generator rng(derive_seed(seed, 3));
  int rows = 0, cols = 0, trows = 0, tcols = 0;
  d.train = load_fashion_split(dir, "train", limit_train, image_size, channels, &rng, rows, cols);
  d.test = load_fashion_split(dir, "t10k", limit_test, image_size, channels, nullptr, trows, tcols);
  if (rows != trows || cols != tcols)
    fail("fashion-mnist: {}: train images are {}x{} but test images are {}x{}", dir, rows, cols, trows, tcols);
  d.label_sets.push_back({"class",
                          kFashionClasses,
                          {"a photo of a {}", "a black and white picture of a {}", "a picture of a {}",
                           "a low resolution photo of a {}", "a grayscale photo of a {}"}});
  return d;
}

// =========================================================================================================
// Caption files
// =========================================================================================================

namespace {

// Decodes one image and prepares it with `processor` to [channels, S, S]; returns an error message ("" on success).
std::string decode_image(const CaptionRecord& e, int S, int channels, const ImageProcessor& processor,
                         std::vector<float>& out) {
  std::error_code ec;
  if (!fs::exists(e.path, ec) || fs::is_directory(e.path, ec))
    return fmt::format("image '{}' not found ({})", e.image, e.path);
  Image8 image;
  std::string why = decode_image_file(e.path, image);
  if (!why.empty()) return fmt::format("cannot decode '{}': {}", e.image, why);
  PixelValues px = processor.process(image, channels);
  if (px.height != S || px.width != S)
    return fmt::format("image '{}' is {}x{} (height x width) after preprocessing ({}), the model takes {}x{}", e.image,
                       px.height, px.width, processor.describe(), S, S);
  out = std::move(px.data);
  return {};
}

}  // namespace

std::vector<float> load_image(const std::string& path, int image_size, int channels, const ImageProcessor& processor) {
  CaptionRecord e;
  e.image = e.path = path;
  std::vector<float> out;
  std::string err = decode_image(e, image_size, channels, processor, out);
  SG_CHECK(err.empty(), "image: {}", err);
  return out;
}

std::vector<float> load_image(const std::string& path, int image_size, int channels) {
  return load_image(path, image_size, channels, ImageProcessor::siglip_default(image_size));
}

Dataset load_caption_file(const std::string& path, int image_size, double test_fraction, uint64_t seed, int channels,
                          const ImageProcessor* processor) {
  (void)seed;  // the split is by position, not random: the same file always gives the same split
  SG_CHECK(image_size >= 1, "data: {}: image_size must be positive (got {})", path, image_size);
  SG_CHECK(channels == 1 || channels == 3, "data: {}: channels must be 1 or 3 (got {})", path, channels);
  SG_CHECK(test_fraction >= 0 && test_fraction < 1, "data: {}: test_fraction must lie in [0, 1) (got {})", path,
           test_fraction);
  std::vector<CaptionRecord> entries = read_caption_file(path);
  const ImageProcessor prep = processor ? *processor : ImageProcessor::siglip_default(image_size);
  SG_CHECK(!entries.empty(), "data: {}: no examples", path);
  size_t k = 0;
  if (test_fraction > 0) {
    k = static_cast<size_t>(std::llround(1.0 / test_fraction));
    SG_CHECK(k >= 2, "data: {}: test_fraction {} leaves nothing to train on (use < 0.67)", path, test_fraction);
  }

  std::vector<Example> all(entries.size());
  std::vector<std::string> errors(entries.size());
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < static_cast<int64_t>(entries.size()); ++i) {
    try {
      errors[i] = decode_image(entries[i], image_size, channels, prep, all[i].image);
    } catch (const std::exception& ex) {
      errors[i] = ex.what();
    }
  }
  for (size_t i = 0; i < entries.size(); ++i)
    if (!errors[i].empty()) fail("data: {}:{}: {}", path, entries[i].line, errors[i]);

  Dataset d;
  d.name = path;
  d.channels = channels;
  d.height = d.width = image_size;
  std::set<std::string> label_names;
  for (auto& e : entries)
    if (e.has_label) label_names.insert(e.label);
  std::map<std::string, int> label_id;
  if (!label_names.empty()) {
    LabelSet ls{"label", {label_names.begin(), label_names.end()}, {"a photo of a {}", "a picture of a {}", "{}"}};
    for (size_t i = 0; i < ls.classes.size(); ++i) label_id[ls.classes[i]] = static_cast<int>(i);
    d.label_sets.push_back(std::move(ls));
  }
  for (size_t i = 0; i < entries.size(); ++i) {
    all[i].caption = entries[i].caption;
    if (!label_names.empty()) all[i].labels = {entries[i].has_label ? label_id[entries[i].label] : -1};
    bool to_test = k > 0 && (i + 1) % k == 0;
    (to_test ? d.test : d.train).push_back(std::move(all[i]));
  }
  return d;
}

// =========================================================================================================
// Dispatch
// =========================================================================================================

namespace {
// "name:A:B" -> {A, B}; "name" -> defaults.
std::pair<size_t, size_t> parse_counts(const std::string& spec, const std::string& name, size_t a, size_t b) {
  if (spec == name) return {a, b};
  std::string rest = spec.substr(name.size() + 1);
  size_t colon = rest.find(':');
  try {
    size_t p1 = 0, p2 = 0;
    if (colon == std::string::npos) fail("");
    unsigned long long x = std::stoull(rest.substr(0, colon), &p1);
    unsigned long long y = std::stoull(rest.substr(colon + 1), &p2);
    if (p1 != colon || p2 != rest.size() - colon - 1) fail("");
    return {static_cast<size_t>(x), static_cast<size_t>(y)};
  } catch (const std::exception&) {
    fail("data: bad dataset spec '{}' (expected {} or {}:N_TRAIN:N_TEST)", spec, name, name);
  }
}
}  // namespace

namespace {

// The built-in sets make pixels in [-1, 1]; a model prepared otherwise (another mean/std) cannot train on them.
void check_builtin_pixels(const std::string& spec, const ImageProcessor* processor) {
  if (!processor) return;
  auto all_half = [](const std::vector<double>& v) {
    for (double x : v)
      if (std::abs(x - 0.5) > 1e-6) return false;
    return true;
  };
  const bool unit_range = processor->do_rescale && std::abs(processor->rescale_factor * 255.0 - 1.0) < 1e-6 &&
                          processor->do_normalize && all_half(processor->image_mean) && all_half(processor->image_std);
  SG_CHECK(unit_range, "data: {}: the built-in sets make pixels in [-1, 1] (rescale 1/255, mean = std = 0.5), but the "
           "model's images are prepared with {}; train it on a caption file instead", spec, processor->describe());
}

// WebDataset shards decoded whole: the last of several shards is the test split; a single shard is both splits.
Dataset load_shards_in_memory(const std::string& spec, int image_size, int channels, const ImageProcessor* processor) {
  std::vector<std::string> train = shard_paths(spec), test{train.back()};
  if (train.size() > 1) train.pop_back();
  const ImageProcessor prep = processor ? *processor : ImageProcessor::siglip_default(image_size);
  std::set<std::string> raw = scan_shards(train, false).raw_labels;
  if (train.back() != test.back()) raw.merge(scan_shards(test, false).raw_labels);
  const ShardLabels labels = ShardLabels::from(raw, train.front());
  Dataset d;
  d.name = spec;
  d.channels = channels;
  d.height = d.width = image_size;
  if (!labels.classes.empty()) d.label_sets.push_back(labels.label_set());
  d.test = load_shard_examples(test, labels, prep, channels, image_size, false);
  d.train = train.back() == test.back() ? d.test : load_shard_examples(train, labels, prep, channels, image_size, false);
  return d;
}

}  // namespace

Dataset load_dataset(const std::string& spec, int image_size, int channels, uint64_t seed,
                     const ImageProcessor* processor) {
  if (spec == "shapes" || spec.rfind("shapes:", 0) == 0 || spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0)
    check_builtin_pixels(spec, processor);
  if (spec == "shapes" || spec.rfind("shapes:", 0) == 0) {
    SG_CHECK(channels <= 0 || channels == 3, "shapes: images are RGB; channels must be 3 (got {})", channels);
    auto [ntr, nte] = parse_counts(spec, "shapes", 20000, 2000);
    SG_CHECK(ntr <= (1u << 30) && nte <= (1u << 30), "shapes: example count too large in '{}'", spec);
    return make_shapes(static_cast<int>(ntr), static_cast<int>(nte), image_size, seed);
  }
  if (spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0) {
    auto [ltr, lte] = parse_counts(spec, "fashion-mnist", 0, 0);
    const char* dir = std::getenv("SG_FASHION_MNIST_DIR");  // elsewhere than Debian's path (e.g. a GPU machine)
    return load_fashion_mnist(dir && *dir ? dir : kFashionMnistDir, image_size, channels <= 0 ? 1 : channels, ltr, lte,
                              seed);
  }
  if (is_shard_spec(spec)) return load_shards_in_memory(spec, image_size, channels <= 0 ? 3 : channels, processor);
  if (is_caption_file(spec)) return load_caption_file(spec, image_size, 0.1, seed, channels <= 0 ? 3 : channels, processor);
  fail("data: unknown dataset '{}' (expected shapes, shapes:N_TRAIN:N_TEST, fashion-mnist, "
       "fashion-mnist:LIMIT_TRAIN:LIMIT_TEST, a .tsv / .jsonl caption file, or .tar shards)",
       spec);
}

}  // namespace sg
