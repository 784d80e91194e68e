// cmd_train.cpp: `siglip train [options]` (siglip/train_options.h lists them; `siglip train --help`).
// Under `mpirun -np D` every rank runs this; ranks other than 0 print nothing on stdout (errors still go to stderr).
#include <cstdio>

#include "dist/communicator.h"
#include "siglip/commands.h"
#include "siglip/train.h"

namespace sg {

int run_train(TrainOptions o, const CommandLine& given) {
  if (!o.resume.empty() && !given.has("steps")) o.steps = 0;  // --resume without --steps: the saved total
  SG_CHECK(o.init.empty() || !given.has("config"),
           "train: --config and --init both give the model's shape; --init {} brings its own config.json", o.init);
  o.init_temp_given = given.has("init-temp");
  o.init_bias_given = given.has("init-bias");
  if (dist::world().rank() > 0)
    SG_CHECK(std::freopen("/dev/null", "w", stdout) != nullptr, "train: rank {}: cannot silence stdout",
             dist::world().rank());
  train(o);
  return 0;
}

}  // namespace sg
