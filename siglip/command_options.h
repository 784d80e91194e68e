// command_options.h: the options of every command but train (siglip/train_options.h), each defined once; see
// siglip/options.h for the form and what derives from it.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "siglip/choices.h"
#include "siglip/options.h"

namespace sg {

struct EvalOptions {
  static constexpr const char* command = "eval";
  static constexpr const char* summary = "zero-shot accuracy and image<->text retrieval R@1/R@5 of a checkpoint";
  std::string checkpoint, data;
  int64_t limit, image_size;
  bool json;
  EvalOptions() { set_defaults(*this); }
};
template <class V>
void describe(EvalOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (its latest checkpoint); required");
  v.option(o.data, "data", "", "SPEC", "the data to evaluate on, as train's --data (default: the data it trained on)");
  v.option(o.limit, "limit", 0, "N", "test examples to use (0: all)");
  v.option(o.image_size, "image-size", 0, "N",
           "run the model at this image size (0: the checkpoint's); the position table is interpolated");
  v.option(o.json, "json", false, "", "print the results as JSON");
}

struct ClassifyOptions {
  static constexpr const char* command = "classify";
  static constexpr const char* summary = "the sigmoid probability of each text for one image";
  std::string checkpoint;
  int64_t image_size;
  bool json;
  std::vector<std::string> inputs;  // IMAGE, then the texts
  ClassifyOptions() { set_defaults(*this); }
};
template <class V>
void describe(ClassifyOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (its latest checkpoint); required");
  v.option(o.json, "json", false, "", "print the results as JSON");
  v.option(o.image_size, "image-size", 0, "N",
           "run the model at this image size (0: the checkpoint's); the position table is interpolated");
  v.positional(o.inputs, "IMAGE TEXT...", "an image file, then one or more texts");
}

struct EmbedOptions {
  static constexpr const char* command = "embed";
  static constexpr const char* summary = "L2-normalised embeddings of images or texts, to .safetensors or .json";
  std::string checkpoint, out;
  int64_t image_size;
  bool images, texts;
  std::vector<std::string> inputs;
  EmbedOptions() { set_defaults(*this); }
};
template <class V>
void describe(EmbedOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (its latest checkpoint); required");
  v.option(o.out, "out", "", "FILE", "FILE.safetensors (tensor 'embeddings' [N, D]) or FILE.json; required");
  v.option(o.images, "images", false, "", "the inputs are image files");
  v.option(o.texts, "texts", false, "", "the inputs are texts");
  v.option(o.image_size, "image-size", 0, "N",
           "run the model at this image size (0: the checkpoint's); the position table is interpolated");
  v.positional(o.inputs, "INPUT...", "image files (--images) or texts (--texts)");
}

struct GradcheckOptions {
  static constexpr const char* command = "gradcheck";
  static constexpr const char* summary =
      "ops' (or one model parameter's, --param) backward against f64 central differences; exit status 0 if all pass";
  double rtol, eps;
  bool json, values;
  std::string inputs, param, checkpoint, config;
  int64_t elements, batch;
  std::optional<int64_t> step;
  std::optional<uint64_t> seed;
  std::vector<std::string> ops;
  GradcheckOptions() { set_defaults(*this); }
};
template <class V>
void describe(GradcheckOptions& o, V& v) {
  v.option(o.rtol, "rtol", 1e-6, "X", "largest relative error that passes");
  v.option(o.eps, "eps", 1e-6, "X", "step of the central differences (L(x + eps) - L(x - eps)) / 2 eps");
  v.option(o.json, "json", false, "", "print the results as JSON");
  v.option(o.values, "values", false, "",
           "ops: also print the analytic and numeric gradient of every input of at most 64 elements, in full");
  v.option(o.inputs, "inputs", "", "FILE",
           "ops: check ONE op (OP or OP/CASE) on the tensors of FILE.safetensors, named as its inputs (f32 or f64)");
  v.option(o.param, "param", "", "NAME",
           "check the whole model's loss gradient for this parameter (Hugging Face name, e.g. logit_scale) in f64");
  v.option(o.checkpoint, "checkpoint", "", "DIR",
           "--param: a checkpoint or run directory; its run's data, loss and positives (default: a fresh --config)");
  v.option(o.config, "config", "micro", "NAME|FILE",
           "--param: model size of a fresh model: tiny, micro, small, b16 or a config.json");
  v.option(o.elements, "elements", 8, "K", "--param: elements checked, spread over the tensor (seeded)");
  v.option(o.step, "step", std::nullopt, "N",
           "--param: use the batch that training step N (1: the first) draws with this seed and --batch "
           "(default: the checkpoint's next step, or 1)");
  v.option(o.batch, "batch", 4, "N", "--param: pairs in the batch");
  v.option(o.seed, "seed", std::nullopt, "N",
           "--param: seed of a fresh model's weights, the data order and the chosen elements (default: the "
           "checkpoint run's seed, or 0)");
  v.positional(o.ops, "OP...", "only these ops (default: all); OP/CASE for one case");
}

struct GraphOptions {
  static constexpr const char* command = "graph";
  static constexpr const char* summary =
      "the recorded forward graph of one batch (model and loss): one line per node, DOT or JSON";
  std::string checkpoint, config, module, out;
  int64_t batch;
  GraphFormat format;
  uint64_t seed;
  bool unfused, values;
  int collapse_modules;
  GraphOptions() { set_defaults(*this); }
};
template <class V>
void describe(GraphOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (default: a fresh model of --config)");
  v.option(o.config, "config", "micro", "NAME|FILE",
           "model size of a fresh model: tiny, micro, small, b16 or a config.json");
  v.option(o.batch, "batch", 4, "N", "pairs in the batch (built-in shapes data)");
  v.option(o.format, "format", GraphFormat::Text, "", "one line per node, Graphviz DOT (clusters by module), or JSON");
  v.option(o.module, "module", "", "PREFIX", "only the nodes made inside modules whose path starts with PREFIX");
  v.option(o.out, "out", "", "FILE", "write there instead of standard output; FILE.svg runs Graphviz's dot on the DOT");
  v.option(o.seed, "seed", 0, "N", "seed of the fresh model's weights and of the batch");
  v.option(o.unfused, "unfused", false, "",
           "attention as matmul, softmax, matmul and the sigmoid loss from its logits, instead of the fused ops");
  v.option(o.values, "values", false, "",
           "run the backward too and show each node's output and the gradient it received (in full up to 4 "
           "elements, else statistics), as micrograd's draw_dot");
  v.option(o.collapse_modules, "collapse-modules", 0, "DEPTH",
           "one node per module at this depth of the module path (4: one per encoder layer; 0: one per op)");
}

struct TokenizeOptions {
  static constexpr const char* command = "tokenize";
  static constexpr const char* summary =
      "token ids of each line of standard input, one line each: a Hugging Face SentencePiece folder or a checkpoint";
  std::string tokenizer;
  int64_t length;
  bool canonical;
  TokenizeOptions() { set_defaults(*this); }
};
template <class V>
void describe(TokenizeOptions& o, V& v) {
  v.option(o.tokenizer, "tokenizer", "", "DIR",
           "a folder with spiece.model or tokenizer.model (+ tokenizer_config.json), or a checkpoint with tokenizer.json; "
           "required");
  v.option(o.length, "length", 64, "L", "ids per line: the model's text length (eos kept, padded to L)");
  v.option(o.canonical, "canonical", false, "", "print each line's canonical text (SigLIP's canonicalize_text) instead");
}

struct GradOptions {
  static constexpr const char* command = "grad";
  static constexpr const char* summary =
      "the training loss's gradients on one batch file, by HF parameter name, with the loss, logits and embeddings";
  std::string checkpoint, inputs, out, make_inputs, data;
  int64_t batch, image_size;
  uint64_t seed;
  GradOptions() { set_defaults(*this); }
};
template <class V>
void describe(GradOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (its latest checkpoint); required");
  v.option(o.inputs, "inputs", "", "FILE",
           "the batch: pixel_values f32 [B, C, H, W] and input_ids int64 or int32 [B, L] (.safetensors)");
  v.option(o.out, "out", "", "FILE", "where to write loss, logits_per_image, image_embeds, text_embeds and the "
           "gradients (f32 .safetensors)");
  v.option(o.make_inputs, "make-inputs", "", "FILE",
           "write a batch of --data for the checkpoint to FILE (with --out: then compute on it)");
  v.option(o.batch, "batch", 8, "N", "pairs in the batch --make-inputs writes");
  v.option(o.data, "data", "shapes", "SPEC", "the data --make-inputs draws from, as train's --data (its first batch)");
  v.option(o.seed, "seed", 0, "N", "seed of the data and its order, as train's --seed");
  v.option(o.image_size, "image-size", 0, "N",
           "run the model at this image size (0: the checkpoint's); the position table is interpolated");
}

struct TraceOptions {
  static constexpr const char* command = "trace";
  static constexpr const char* summary =
      "one backward pass of model and loss, node by node: values, gradients, a stepper (--step), a float64 check";
  std::string checkpoint, config, module, json;
  int64_t batch;
  uint64_t seed;
  int threads;
  bool values, step, check, unfused;
  TraceOptions() { set_defaults(*this); }
};
template <class V>
void describe(TraceOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (default: a fresh model of --config)");
  v.option(o.config, "config", "micro", "NAME|FILE",
           "model size of a fresh model: tiny, micro, small, b16 or a config.json");
  v.option(o.batch, "batch", 4, "N", "pairs in the batch (built-in shapes data; the same batch as `siglip graph`)");
  v.option(o.seed, "seed", 0, "N", "seed of the fresh model's weights, of the batch and of --check's samples");
  v.option(o.module, "module", "", "PREFIX", "only the nodes made inside modules (and the parameters) starting with PREFIX");
  v.option(o.unfused, "unfused", false, "",
           "attention as matmul, softmax, matmul and the loss from its logits, each its own node (as graph --unfused)");
  v.option(o.values, "values", false, "", "print tensors of at most 16 elements in full");
  v.option(o.json, "json", "", "FILE", "also write the table (and the check) as JSON to FILE");
  v.option(o.step, "step", false, "",
           "pause at each node of the backward and read commands from standard input: Enter/n, p NAME, b OP, c, q");
  v.option(o.check, "check", false, "",
           "re-run each node's backward in float64 from its saved inputs, and against central differences; exit "
           "status 1 at a disagreement");
  v.option(o.threads, "threads", 1, "N",
           "CPU threads (OpenMP, OpenBLAS, oneDNN; 0: as the environment sets); 1 by default: the trace and its check "
           "run thousands of small ops, where more threads mostly wait on each other");
}

struct ImportOptions {
  static constexpr const char* command = "import";
  static constexpr const char* summary =
      "a Hugging Face SigLIP folder (config.json + model.safetensors or shards) as our checkpoint";
  std::vector<std::string> dirs;
  std::string out;
  Precision precision;
  ImportOptions() { set_defaults(*this); }
};
template <class V>
void describe(ImportOptions& o, V& v) {
  v.option(o.out, "out", "", "DIR", "the checkpoint directory to write (model.safetensors, config.json, tokenizer "
           "files); required");
  v.option(o.precision, "precision", Precision::F32, "", "dtype of the written weights (bf16: rounded to nearest "
           "even; they load as f32)");
  v.positional(o.dirs, "HF_DIR", "the Hugging Face folder: config.json, model.safetensors or "
               "model.safetensors.index.json and its shards");
}

struct PreprocessOptions {
  static constexpr const char* command = "preprocess";
  static constexpr const char* summary =
      "images as the model sees them (SiglipImageProcessor's steps): pixel_values [N, C, H, W] to .safetensors";
  std::string checkpoint, processor, out;
  int64_t image_size, channels;
  std::vector<std::string> images;
  PreprocessOptions() { set_defaults(*this); }
};
template <class V>
void describe(PreprocessOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR",
           "prepare images for this checkpoint (or run directory): its preprocessor_config.json, else bicubic to its "
           "image size, pixels in [-1, 1]");
  v.option(o.processor, "processor", "", "FILE", "prepare images as this preprocessor_config.json says");
  v.option(o.image_size, "image-size", 0, "N",
           "resize to N x N (alone: bicubic, rescale 1/255, mean = std = 0.5, as our models train; with --processor: "
           "that processor, resizing to N x N)");
  v.option(o.channels, "channels", 0, "C", "1 (grey: luma after resizing) or 3 (default: the checkpoint's, else 3)");
  v.option(o.out, "out", "", "FILE", "FILE.safetensors to write (f32 tensor 'pixel_values' [N, C, H, W]); required");
  v.positional(o.images, "IMAGE...", "image files (PNG, JPEG, BMP, GIF, ...)");
}

struct ExportOptions {
  static constexpr const char* command = "export";
  static constexpr const char* summary =
      "a checkpoint as a Hugging Face folder: AutoModel, AutoTokenizer, AutoProcessor and the zero-shot pipeline";
  std::string checkpoint, out;
  bool force;
  ExportOptions() { set_defaults(*this); }
};
template <class V>
void describe(ExportOptions& o, V& v) {
  v.option(o.checkpoint, "checkpoint", "", "DIR", "a checkpoint, or a run directory (its latest checkpoint); required");
  v.option(o.out, "out", "", "DIR", "the folder to write (model.safetensors f32, config.json, preprocessor_config.json, "
           "tokenizer files); required");
  v.option(o.force, "force", false, "", "write into --out even when it exists and is not empty (its files of the same "
           "names are replaced)");
}

struct BenchOpsOptions {
  static constexpr const char* command = "bench ops";
  static constexpr const char* summary =
      "the CPU's measured FMA peak; GEMM GFLOP/s (f32, bf16) through matmul() vs raw oneDNN/OpenBLAS; layer_norm/softmax/"
      "gelu GB/s vs memcpy (`bench` alone)";
  int reps;
  bool peak_only;
  BenchOpsOptions() { set_defaults(*this); }
};
template <class V>
void describe(BenchOpsOptions& o, V& v) {
  v.option(o.reps, "reps", 9, "N", "runs per measurement (the median is shown)");
  v.option(o.peak_only, "peak-only", false, "", "measure the FMA peak alone (scripts/bench-cpu.sh reads it)");
}

struct BenchKernelsOptions {
  static constexpr const char* command = "bench kernels";
  static constexpr const char* summary =
      "attention TFLOP/s, matmul, layer_norm GB/s (f32, bf16) next to the device's measured ceilings";
  int reps;
  std::optional<Device> device;
  std::optional<int64_t> batch;
  BenchKernelsOptions() { set_defaults(*this); }
};
template <class V>
void describe(BenchKernelsOptions& o, V& v) {
  v.option(o.reps, "reps", 9, "N", "runs per measurement (the median is shown)");
  v.option(o.device, "device", std::nullopt, "", "where to measure (default: cuda when a GPU is present, else cpu)");
  v.option(o.batch, "batch", std::nullopt, "N", "ViT-B batch (default: 64 and 256 on the GPU, 2 on the CPU)");
}

struct BenchEmbedOptions {
  static constexpr const char* command = "bench embed";
  static constexpr const char* summary =
      "images/s of the image tower (MAP head and L2 norm included) of a fresh model on random images, in batches";
  std::string config;
  int64_t images, batch;
  int warmup, threads;
  Precision precision;
  Device device;
  uint64_t seed;
  BenchEmbedOptions() { set_defaults(*this); }
};
template <class V>
void describe(BenchEmbedOptions& o, V& v) {
  v.option(o.config, "config", "tiny", "NAME|FILE",
           "model size: tiny, micro, small, b16 or a config.json (random weights)");
  v.option(o.images, "images", 10000, "N", "random images embedded in the timed batches");
  v.option(o.batch, "batch", 256, "N",
           "images per forward pass (images/s comes from the median time of the full batches)");
  v.option(o.warmup, "warmup", 2, "N", "batches run before the timed ones");
  v.option(o.precision, "precision", Precision::F32, "", "bf16: bf16 activations and GEMM operands, as train's");
  v.option(o.device, "device", Device::CPU, "", "where the model runs");
  v.option(o.threads, "threads", 0, "N", "CPU threads (OpenMP, OpenBLAS, oneDNN; 0: as the environment sets)");
  v.option(o.seed, "seed", 0, "N", "seed of the weights and the images");
}

struct DataPackOptions {
  static constexpr const char* command = "data pack";
  static constexpr const char* summary =
      "write a data set (shapes, fashion-mnist, a caption file, shards) as WebDataset tar shards";
  std::string data, out;
  int64_t shard_size;
  PackFormat format;
  int image_size;
  uint64_t seed;
  bool force;
  DataPackOptions() { set_defaults(*this); }
};
template <class V>
void describe(DataPackOptions& o, V& v) {
  v.option(o.data, "data", "", "SPEC", "the source, as train's --data; required");
  v.option(o.out, "out", "", "DIR",
           "the folder of the shards: DIR/00000.tar... (training split), DIR/test/00000.tar... (test split); required");
  v.option(o.shard_size, "shard-size", 1000, "N", "samples per shard");
  v.option(o.format, "format", PackFormat::Png, "",
           "how generated images (shapes, fashion-mnist) are encoded; image files are copied as they are");
  v.option(o.image_size, "image-size", 64, "N", "side of generated images (shapes, fashion-mnist)");
  v.option(o.seed, "seed", 0, "N", "seed of generated data (as train's --seed)");
  v.option(o.force, "force", false, "", "write into --out even when it has shards");
}

struct DataStatsOptions {
  static constexpr const char* command = "data stats";
  static constexpr const char* summary =
      "samples and shards of a data set, and how fast the workers decode and resize its images";
  std::string data;
  int workers;
  int image_size;
  int64_t limit;
  bool on_bad_skip;
  bool exact_decode;
  DataStatsOptions() { set_defaults(*this); }
};
template <class V>
void describe(DataStatsOptions& o, V& v) {
  v.option(o.data, "data", "", "SPEC", "the data, as train's --data; required");
  v.option(o.workers, "workers", 2, "N", "decoding threads, as train's --workers");
  v.option(o.image_size, "image-size", 224, "N", "the side images are resized to");
  v.option(o.limit, "limit", 2000, "N", "samples to decode for the rate (0: all)");
  v.option(o.on_bad_skip, "skip-bad", false, "", "leave bad samples out and count them (train's --on-bad-sample skip)");
  v.option(o.exact_decode, "exact-decode", false, "",
           "decode JPEGs at full size, as train's --exact-decode (default: at the smallest libjpeg scale covering "
           "--image-size, and the difference to full-size decoding is printed)");
}

struct DataIndexOptions {
  static constexpr const char* command = "data index";
  static constexpr const char* summary =
      "write shardindex.json beside WebDataset shards (their sample counts), so that training starts without reading them";
  std::string data;
  bool on_bad_skip;
  DataIndexOptions() { set_defaults(*this); }
};
template <class V>
void describe(DataIndexOptions& o, V& v) {
  v.option(o.data, "data", "", "SPEC", "the shards, 'DIR/{00000..00099}.tar' (all in one folder); required");
  v.option(o.on_bad_skip, "skip-bad", false, "",
           "count bad samples and damaged shards and record them (training with --on-bad-sample skip then uses the "
           "counts; with fail it reads those shards and stops at the first)");
}

}  // namespace sg
