// train_helpers.h: what the training tests share: a fresh run directory and the smallest run that trains.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>

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
