// train_helpers.h: what the training tests share: a fresh run directory, the smallest run that trains, and a run
// trained whole against the same run interrupted and resumed.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

#include "nn/fileio.h"
#include "siglip/train.h"
#include "siglip/train_options.h"

// An empty path under the system's temp folder, unique to this process: sg_test_<name>_<pid>.
inline std::string temp_dir(const std::string& name) {
  const std::string d =
      (std::filesystem::temp_directory_path() / ("sg_test_" + name + "_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(d);
  return d;
}

// micro config at 16 px, batch 8 on 64 shapes, 4 steps, no evaluation, quiet log: a run of a second or two.
inline sg::TrainOptions tiny_run(const std::string& out) {
  sg::TrainOptions o;
  o.data = "shapes:64:16";
  o.config = "micro";
  o.image_size = 16;
  o.batch = 8;
  o.steps = 4;
  o.eval = false;
  o.log_every = 100;
  o.out = out;
  return o;
}

// The final weights of `o` trained to `total` steps in one run (DIR/whole) and in two (DIR/parts: `first` steps,
// then `--resume` to `total`, with `resume_workers` decoding workers when > 0): model.safetensors's bytes of each.
// A resumed run continues bit for bit when the two are equal.
struct WholeAndResumed {
  std::string whole, resumed;
};
inline WholeAndResumed train_whole_and_resumed(sg::TrainOptions o, const std::string& dir, int64_t first, int64_t total,
                                               int resume_workers = 0) {
  const std::string step_dir = "/step-" + std::string(6 - std::to_string(total).size(), '0') + std::to_string(total);
  o.out = dir + "/whole";
  o.steps = total;
  sg::train(o);
  o.out = dir + "/parts";
  o.steps = first;
  sg::train(o);
  sg::TrainOptions cont;
  cont.resume = o.out;
  cont.steps = total;
  if (resume_workers > 0) cont.workers = resume_workers;
  sg::train(cont);
  return {sg::read_file(dir + "/whole" + step_dir + "/model.safetensors"),
          sg::read_file(dir + "/parts" + step_dir + "/model.safetensors")};
}
