#include "siglip/grad_file.h"

#include "nn/safetensors.h"
#include "siglip/loss.h"
#include "tensor/ops.h"

namespace sg {
namespace {

const Tensor& tensor_named(const std::map<std::string, Tensor>& tensors, const std::string& path,
                           const std::string& name) {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    std::string present;
    for (const auto& [n, t] : tensors) present += fmt::format("{}{} {} {}", present.empty() ? "" : ", ", n,
                                                              dtype_name(t.dtype()), t.shape_str());
    fail("grad: {}: no tensor '{}' (the file has: {}); a batch file holds pixel_values [B, C, H, W] float32 and "
         "input_ids [B, L] int64 or int32",
         path, name, present.empty() ? "nothing" : present);
  }
  return it->second;
}

}  // namespace

GradInputs load_grad_inputs(const std::string& path, const SiglipConfig& config) {
  const std::map<std::string, Tensor> tensors = load_safetensors(path);
  const VisionConfig& v = config.vision;
  const TextConfig& t = config.text;
  GradInputs in;
  in.pixel_values = tensor_named(tensors, path, "pixel_values");  // [B, C, H, W]
  in.input_ids = tensor_named(tensors, path, "input_ids");        // [B, L] (I32 files are read as I64)
  const Tensor& px = in.pixel_values;
  const Tensor& ids = in.input_ids;
  SG_CHECK(px.dtype() == DType::F32, "grad: {}: pixel_values is {} {}, expected float32", path, dtype_name(px.dtype()),
           px.shape_str());
  SG_CHECK(px.dim() == 4 && px.size(0) >= 1 && px.size(1) == v.num_channels && px.size(2) == v.image_size &&
               px.size(3) == v.image_size,
           "grad: {}: pixel_values has shape {}, the checkpoint's config needs [B, {}, {}, {}]", path, px.shape_str(),
           v.num_channels, v.image_size, v.image_size);
  SG_CHECK(ids.dtype() == DType::I64, "grad: {}: input_ids is {} {}, expected int64 or int32", path,
           dtype_name(ids.dtype()), ids.shape_str());
  SG_CHECK(ids.dim() == 2 && ids.size(1) >= 1 && ids.size(1) <= t.max_position_embeddings,
           "grad: {}: input_ids has shape {}, expected [B, L] with 1 <= L <= max_position_embeddings {}", path,
           ids.shape_str(), t.max_position_embeddings);
  SG_CHECK(ids.size(0) == px.size(0), "grad: {}: pixel_values {} and input_ids {} have different batch sizes", path,
           px.shape_str(), ids.shape_str());
  const std::vector<int64_t> values = ids.to_vector<int64_t>();
  for (size_t i = 0; i < values.size(); ++i)
    SG_CHECK(values[i] >= 0 && values[i] < t.vocab_size,
             "grad: {}: input_ids[{}, {}] = {} is outside the vocabulary [0, {})", path,
             static_cast<int64_t>(i) / ids.size(1), static_cast<int64_t>(i) % ids.size(1), values[i], t.vocab_size);
  return in;
}

void save_grad_inputs(const std::string& path, const Batch& batch, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, {{"pixel_values", batch.images}, {"input_ids", batch.ids}}, metadata);
}

GradResult compute_gradients(SiglipModel& model, const GradInputs& in) {
  std::vector<std::pair<std::string, Tensor*>> params = model.named_parameters();
  for (auto& [name, p] : params) p->zero_grad();
  GradResult r;
  // x: [B, C, H, W], ids: [B, L] -> embeddings [B, D] -> the fused sigmoid loss over groups 0..B-1 (diagonal)
  const int64_t B = in.pixel_values.size(0);
  Tensor img = model.image_embeds(in.pixel_values), txt = model.text_embeds(in.input_ids);
  Tensor groups = arange(0, static_cast<double>(B), 1, DType::I64);
  if (groups.device() != model.device()) groups = groups.to(model.device());
  r.loss = sigmoid_loss_fused(img, txt, model.logit_scale, model.logit_bias, groups);
  r.loss.backward();
  {
    NoGradGuard ng;
    r.image_embeds = img.detach();
    r.text_embeds = txt.detach();
    r.logits_per_image = model.logits(r.image_embeds, r.text_embeds);  // [B_img, B_txt]
  }
  for (auto& [name, p] : params) {
    if (!p->requires_grad()) continue;
    SG_CHECK(p->grad().defined(), "grad: parameter {} received no gradient", name);
    r.gradients.emplace_back(name, p->grad());
  }
  r.loss = r.loss.detach();
  return r;
}

std::vector<std::pair<std::string, Tensor>> GradResult::file_tensors() const {
  std::vector<std::pair<std::string, Tensor>> out = {{"loss", loss.reshape({})},
                                                     {"logits_per_image", logits_per_image},
                                                     {"image_embeds", image_embeds},
                                                     {"text_embeds", text_embeds}};
  out.insert(out.end(), gradients.begin(), gradients.end());
  for (auto& [name, t] : out) t = t.detach().to(DType::F32);
  return out;
}

}  // namespace sg
