// cmd_train.cpp: `siglip train [options]` (siglip/train_options.h lists them; `siglip train --help`).
#include "siglip/commands.h"
#include "siglip/train.h"

namespace sg {

int run_train(TrainOptions o, const CommandLine& given) {
  if (!o.resume.empty() && !given.has("steps")) o.steps = 0;  // --resume without --steps: the saved total
  train(o);
  return 0;
}

}  // namespace sg
