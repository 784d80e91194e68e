// choices.h: the option values that are one of a few names (--loss, --positives, --precision, --device) as enums,
// each with its list of names, and --init-bias ("auto" or a number) as a small typed value. The command line
// parses names into these once; past the parser, code compares enums, never strings.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/dtype.h"
#include "base/error.h"

namespace sg {

enum class Loss { Sigmoid, Softmax };
// Which pairs of a batch are positive: only the matching pair (the paper), pairs with identical captions, or
// pairs with the same class label (where the data has one).
enum class Positives { Diagonal, Caption, Label };
// F32, or bf16 activations and GEMM operands with f32 master weights.
enum class Precision { F32, BF16 };
// `siglip train --freeze`: a tower whose parameters get no gradient and no optimizer state.
enum class Freeze { None, Vision, Text };
// --on-bad-sample: a sample that cannot be used (no caption, an image that does not decode, a damaged shard) stops
// the run, or is left out and counted.
enum class BadSample { Fail, Skip };
// `siglip train --augment`: training images used whole (the paper), or a random resized crop (siglip/augment.h).
enum class Augment { None, Crop };
// `siglip data pack --format`: how generated images are encoded.
enum class PackFormat { Png, Jpg };
// `siglip train --comm`: how ranks exchange CUDA tensors under mpirun (dist::Transport): NCCL where there is a GPU
// per rank, else MPI with host staging (auto), or one of them.
enum class Comm { Auto, Mpi, Nccl };
// `siglip graph --format`: one line per node, Graphviz DOT, or JSON.
enum class GraphFormat { Text, Dot, Json };

template <class E>
struct Choice {
  E value;
  const char* name;
};

// choices(E{}): every value of E with its name, in the order --help lists them (found by argument lookup).
constexpr std::array<Choice<Loss>, 2> choices(Loss) { return {{{Loss::Sigmoid, "sigmoid"}, {Loss::Softmax, "softmax"}}}; }
constexpr std::array<Choice<Positives>, 3> choices(Positives) {
  return {{{Positives::Diagonal, "diagonal"}, {Positives::Caption, "caption"}, {Positives::Label, "label"}}};
}
constexpr std::array<Choice<Precision>, 2> choices(Precision) {
  return {{{Precision::F32, "f32"}, {Precision::BF16, "bf16"}}};
}
constexpr std::array<Choice<Freeze>, 3> choices(Freeze) {
  return {{{Freeze::None, "none"}, {Freeze::Vision, "vision"}, {Freeze::Text, "text"}}};
}
constexpr std::array<Choice<BadSample>, 2> choices(BadSample) {
  return {{{BadSample::Fail, "fail"}, {BadSample::Skip, "skip"}}};
}
constexpr std::array<Choice<Augment>, 2> choices(Augment) {
  return {{{Augment::None, "none"}, {Augment::Crop, "crop"}}};
}
constexpr std::array<Choice<PackFormat>, 2> choices(PackFormat) {
  return {{{PackFormat::Png, "png"}, {PackFormat::Jpg, "jpg"}}};
}
constexpr std::array<Choice<GraphFormat>, 3> choices(GraphFormat) {
  return {{{GraphFormat::Text, "text"}, {GraphFormat::Dot, "dot"}, {GraphFormat::Json, "json"}}};
}
constexpr std::array<Choice<Comm>, 3> choices(Comm) {
  return {{{Comm::Auto, "auto"}, {Comm::Mpi, "mpi"}, {Comm::Nccl, "nccl"}}};
}
constexpr std::array<Choice<Device>, 2> choices(Device) { return {{{Device::CPU, "cpu"}, {Device::CUDA, "cuda"}}}; }

template <class E>
concept ChoiceEnum = requires { choices(E{}); };

template <ChoiceEnum E>
std::string choice_name(E e) {
  for (const auto& c : choices(E{}))
    if (c.value == e) return c.name;
  return "?";
}

// "sigmoid|softmax"
template <ChoiceEnum E>
std::string choice_names(const char* separator = "|") {
  std::string out;
  for (const auto& c : choices(E{})) out += (out.empty() ? "" : separator) + std::string(c.name);
  return out;
}

template <ChoiceEnum E>
std::optional<E> parse_choice(std::string_view name) {
  for (const auto& c : choices(E{}))
    if (name == c.name) return c.value;
  return std::nullopt;
}

// --init-bias: "auto" (b = -log(B - 1), or log(p / (B - p)) from the first batch for non-diagonal positives)
// or a fixed number (the paper: -10).
struct InitBias {
  std::optional<double> fixed;  // nullopt: auto

  bool is_auto() const { return !fixed.has_value(); }
  // The bias before any batch is seen: the fixed value, or -log(B - 1) (sigmoid(b) = 1/(B - 1), the best
  // constant when one pair in B is positive).
  double initial(int64_t batch) const;
  std::string text() const;  // "auto" or the number, shortest form that reads back to the same double
  // "auto" or a number; nullopt for anything else.
  static std::optional<InitBias> parse(const std::string& s);
  bool operator==(const InitBias&) const = default;
};

}  // namespace sg
