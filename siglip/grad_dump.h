// grad_dump.h: `train --dump-grads PATTERNS --dump-every N`: the gradients of the parameters whose Hugging Face
// names match a pattern, every N steps, to RUN/grads/step-NNNNNN.safetensors (F32, one tensor per parameter under
// its name; written atomically: a temp file renamed into place). They are the gradients of that step's loss as
// backward left them: before clipping and before the optimizer step.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "siglip/model.h"

namespace sg {

// Shell-style glob over a whole name: '*' any run of characters (dots included), '?' one character, [abc] a set.
bool name_matches(const std::string& pattern, const std::string& name);
// "a.*, logit_*" -> {"a.*", "logit_*"}: split at commas, spaces trimmed, empty pieces dropped.
std::vector<std::string> split_patterns(const std::string& comma_separated);

class GradDump {
 public:
  // No patterns: off. Otherwise every pattern must match at least one trained parameter (else sg::Error naming the
  // pattern), and every_n must be at least 1.
  GradDump(SiglipModel& model, const std::string& patterns, int64_t every_n, std::string run_dir);
  bool enabled() const { return !selected_.empty(); }
  bool due(int64_t step) const { return enabled() && step % every_n_ == 0; }  // step: counted from 1
  // RUN/grads/step-NNNNNN.safetensors with the selected parameters' current gradients.
  void write(int64_t step) const;
  static std::string file_name(int64_t step);  // "grads/step-000010.safetensors"
  const std::vector<std::pair<std::string, Tensor*>>& selected() const { return selected_; }

 private:
  std::vector<std::pair<std::string, Tensor*>> selected_;  // in the model's order
  int64_t every_n_;
  std::string run_dir_;
};

}  // namespace sg
