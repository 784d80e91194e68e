// data.h: image-caption datasets for the SigLIP trainer.
//
// Every dataset is loaded whole into memory as a list of Examples: a normalised image, one caption and a
// class label per label set (for zero-shot evaluation). Three sources:
//   - "shapes": procedurally generated coloured shapes with compositional captions (needs nothing installed);
//   - Fashion-MNIST read from the IDX .gz files (zlib);
//   - the user's own .tsv / .jsonl caption file pointing at PNG/JPEG images (stb_image, then
//     SiglipImageProcessor's steps: siglip/image_processor.h).
// Failures (missing file, bad magic number, truncated data, malformed line, undecodable image) throw
// sg::Error naming the file, and the line where there is one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "siglip/caption_file.h"
#include "siglip/image_processor.h"

namespace sg {

struct Example {
  std::vector<float> image;  // [C, H, W] row-major, normalised like SiglipImageProcessor: x / 255 * 2 - 1
  std::string caption;
  std::vector<int> labels;  // one per label set of the dataset, -1 where unknown
};

struct LabelSet {
  std::string name;
  std::vector<std::string> classes;
  std::vector<std::string> templates;  // zero-shot prompts, each with exactly one "{}"; see fill_template
};

struct Dataset {
  std::string name;
  int channels = 3, height = 0, width = 0;
  std::vector<Example> train, test;
  std::vector<LabelSet> label_sets;
};

// Substitutes `word` for the "{}" of `tmpl` and fixes the English article in front of it:
// fill_template("a photo of a {}", "ankle boot") == "a photo of an ankle boot". Training captions are made
// with it, so zero-shot prompts built with it match the training distribution.
std::string fill_template(const std::string& tmpl, const std::string& word);

// ---- "shapes" --------------------------------------------------------------------------------------------
// Generative rule (all draws from sg::Generator; train and test use separate streams derived from `seed`,
// so the same seed gives the same pixels and captions on every machine):
//   * Canvas S x S (S = image_size >= 8), 3 channels. Background: a dark colour, each channel uniform in
//     [0, 60); with probability 1/2 the background is noisy: per-pixel Gaussian noise with sigma uniform in
//     [4, 16) per image (independent per channel).
//   * Number of objects: train images have two objects with probability p_two_train (default 1/2), else
//     one; test images with probability p_two_test (default 0: the held-out split is single-object, so
//     zero-shot classification of "the" shape / colour is unambiguous).
//   * Each object: shape uniform over kShapes {circle, square, triangle, diamond, cross, ring}; colour uniform
//     over kColours {red, green, blue, yellow, purple, orange} (RGB base value + uniform jitter in [-15,15]
//     per channel); size uniform over {small, large}: "radius" r (half the bounding-box side) uniform in
//     [0.15, 0.18) * S for small and [0.21, 0.25) * S for large. Two objects differ in shape or colour.
//   * Position: one object -> centre uniform such that the bounding box lies inside the canvas. Two objects
//     -> a relation is drawn uniformly from {left of, right of, above, below}; the canvas is split in halves
//     along that axis and object 1 (the subject) is placed wholly inside the half the relation names
//     ("left of": left half), object 2 wholly inside the other half; the other coordinate is uniform.
//   * Drawing: coverage by 4x4 supersampling per pixel (anti-aliased edges), alpha-blended over the
//     background in draw order; pixel values are rounded to integers in [0, 255] and normalised to [-1, 1].
//   * Object phrase. Two objects: "a {size} {colour} {shape}" for both. One object, drawn with probabilities
//     0.55 "a {size} {colour} {shape}", 0.20 "a {colour} {shape}", 0.05 "a {size} {shape}",
//     0.10 "a {shape}", 0.10 "a {colour} shape".
//   * Caption = template(phrase) in the training split: one object -> uniform over kSingleTemplates ("{}", "a picture of {}",
//     "a photo of {}", "there is {}", "an image of {}", "{} in the picture"); two objects -> uniform over
//     {"{1} {rel} {2}", "a picture of {1} {rel} {2}", "there is {1} {rel} {2}", "an image of {1} {rel} {2}"}.
//     The held-out split's captions are the full phrase alone ("a small red circle", or "{1} {rel} {2}"), so
//     that retrieval asks for what the image shows (72 distinct single-object captions) and not for a wording
//     drawn at random.
//   * Labels: label set 0 "shape" and 1 "colour" give the class of object 1 (the only one, or the subject of
//     the relation). Zero-shot templates: shape {"a {}", "a picture of a {}", "a photo of a {}",
//     "there is a {}"}, colour {"a {} shape", "a picture of a {} shape", "a photo of a {} shape",
//     "there is a {} shape"} (these wordings all occur in training captions).
extern const std::vector<std::string> kShapeNames;
extern const std::vector<std::string> kColourNames;
Dataset make_shapes(int n_train, int n_test, int image_size, uint64_t seed, double p_two_train = 0.5,
                    double p_two_test = 0.0);

// ---- Fashion-MNIST ---------------------------------------------------------------------------------------
// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from `dir`. Images are 28x28 grey; image_size >= 28
// zero-pads (background, -1 after normalisation) to image_size x image_size, centred; image_size < 28
// resizes bilinearly. channels: 1, or 3 (grey replicated). limit_train / limit_test: load only the first
// that many (0 = all). Training captions: a template drawn with the seeded RNG from >= 8 wordings
// ("a photo of a {}", "a black and white picture of a {}", ...); test captions: "a photo of a {}".
// Label set 0 "class": t-shirt, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot.
extern const char* const kFashionMnistDir;  // "/usr/share/datasets/fashion-mnist"
extern const std::vector<std::string> kFashionClasses;
Dataset load_fashion_mnist(const std::string& dir, int image_size, int channels, size_t limit_train = 0,
                           size_t limit_test = 0, uint64_t seed = 0);

// ---- The user's own captions -----------------------------------------------------------------------------
// `path` ends in .tsv: "image path <TAB> caption [<TAB> label]" per line; '#' comment lines, blank lines and
// a header line "image<TAB>caption[<TAB>label]" are skipped. `path` ends in .jsonl: one object per line,
// {"image": path, "caption": text[, "label": name]}. Image paths are relative to the caption file's folder
// (absolute paths are kept). Images (PNG, JPEG, ... via stb_image) are prepared by `processor` (siglip/
// image_processor.h: SiglipImageProcessor's steps; by default ImageProcessor::siglip_default(image_size): bicubic
// resize to image_size x image_size as Pillow does it, no aspect-preserving crop, pixels in [-1, 1]); channels = 1
// converts the resized image to grey (ITU-R 601 luma). Split: with k = round(1 / test_fraction), every k-th
// example (line order, 1-based) goes to test; test_fraction = 0 keeps all for training. The split does not depend
// on `seed` (kept for a uniform signature). When any line has a label, label set 0 "label" holds the sorted
// distinct labels (examples without one get -1); otherwise there are no label sets. Errors:
// "data: captions.tsv:17: cannot decode 'img/x.png': <reason>". `siglip train` streams caption files instead
// (siglip/caption_stream.h: the same split and labels, images decoded per epoch by the loader's workers).
Dataset load_caption_file(const std::string& path, int image_size, double test_fraction = 0.1,
                          uint64_t seed = 0, int channels = 3, const ImageProcessor* processor = nullptr);

// The entries of a caption file without decoding any image: read_caption_file; whether a spec names a caption
// file: is_caption_file (both siglip/caption_file.h).

// ---- Dispatch --------------------------------------------------------------------------------------------
// spec: "shapes" (20000 train / 2000 test) or "shapes:N_TRAIN:N_TEST";
//       "fashion-mnist" (all of kFashionMnistDir, or of $SG_FASHION_MNIST_DIR when set) or "fashion-mnist:LIMIT_TRAIN:LIMIT_TEST";
//       a path ending in .tsv or .jsonl (test_fraction 0.1);
//       WebDataset shards (siglip/shard_spec.h, siglip/webdataset.h), decoded whole: the last of several shards is
//       the test split, a single shard is both splits (`siglip train` streams shards instead: siglip/shard_loader.h).
// channels <= 0 picks the dataset's natural count (fashion-mnist 1, the others 3); shapes needs 3.
// One image file (PNG, JPEG, ...) as [channels, S, S], prepared as the caption-file loader does (the default
// processor: pixels in [-1, 1]), or by `processor` (fitted to the model: ImageProcessor::fit_to_model), whose
// output must be image_size x image_size.
std::vector<float> load_image(const std::string& path, int image_size, int channels);
std::vector<float> load_image(const std::string& path, int image_size, int channels, const ImageProcessor& processor);

// `processor`: how caption-file images are prepared (default: ImageProcessor::siglip_default(image_size)); the
// built-in sets (shapes, fashion-mnist) make their pixels themselves and ignore it.
Dataset load_dataset(const std::string& spec, int image_size, int channels, uint64_t seed,
                     const ImageProcessor* processor = nullptr);

}  // namespace sg
