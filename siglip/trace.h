// trace.h: `siglip trace` as a library function: one forward and backward of SigLIP and its loss on the batch of
// `siglip graph` (siglip/model_batch.h), shown node by node in backward order (autograd/trace.h), each parameter with the size
// of the first AdamW step that `siglip train` would take with its defaults, an optional stepper and float64 check.
#pragma once
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "autograd/trace.h"
#include "siglip/command_options.h"
#include "siglip/model.h"

namespace sg {

// A parameter after the backward, and the first optimizer step `siglip train` would apply to it with its default
// options: the gradient clipped (global norm), then AdamW at the schedule's learning rate of step 0.
struct ParameterRow {
  std::string name;
  Shape shape;
  ValueStats value, grad;
  double update_norm = 0;   // ||p_after - p||
  double update_ratio = 0;  // ||p_after - p|| / ||p|| (infinite for a parameter that is all zeros, e.g. a new bias)
};
struct FirstStep {
  double lr = 0;  // lr_at(0, steps, warmup, lr) of the default options
  std::vector<ParameterRow> rows;
};
FirstStep first_adamw_step(SiglipModel& m);
std::string first_step_text(const FirstStep& s, const std::string& prefix);

// The whole command, reading --step's commands from `in` and printing to `out`. `before_backward` (for tests and
// tools) runs between the forward and the backward, e.g. to put hooks on nodes. Returns the exit status: 1 when
// --check finds a node that disagrees.
int trace_session(const TraceOptions& o, std::istream& in, std::ostream& out,
                  const std::function<void(BackwardTrace&)>& before_backward = {});

}  // namespace sg
