// param_groups.h: how `siglip train` optimises each parameter, by its Hugging Face name:
//   - weight decay on the weight matrices of linear and convolution layers only (big_vision's default, which
//     decays '.*/kernel$'): not on biases, layer norms, the token and position embedding tables, the MAP probe,
//     t' (logit_scale) or b (logit_bias);
//   - a learning-rate multiplier per group, from --lr-mult "vision=0.1,text=1,loss=1": vision_model.* is
//     "vision", text_model.* is "text", logit_scale and logit_bias are "loss".
#pragma once
#include <map>
#include <string>

#include "nn/optim.h"

namespace sg {

// "vision", "text" or "loss" for a SiglipModel parameter name; sg::Error for any other name.
std::string param_group(const std::string& name);

// True for the weight matrices that AdamW decays (see above).
bool decays(const std::string& name, const Tensor& p);

// Parsed --lr-mult. Errors name the option and the part at fault ("--lr-mult: unknown group 'head' in
// 'head=0.1' (groups: vision, text, loss)").
struct LrMultipliers {
  std::map<std::string, double> by_group;  // groups not named have multiplier 1
  static LrMultipliers parse(const std::string& spec);
  double of(const std::string& name) const;  // the multiplier of a parameter
};

// The AdamW rule of a parameter: decays(name, p) and the multiplier of its group.
nn::ParamRule param_rule(const std::string& name, const Tensor& p, const LrMultipliers& mult);

}  // namespace sg
