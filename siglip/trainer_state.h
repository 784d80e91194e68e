// trainer_state.h: RUN/step-N/trainer_state.json: where a run stands, for --resume.
//   {"step": 500, "optimizer_steps": 500, "loader": {"epoch": 3, "index": 12}, "world_size": 2,
//    "options": {...every train option}}
// A checkpoint resumes on any number of ranks: --batch is the global batch and the loader's position counts global
// batches, so every world size takes the same samples from the step it resumes at.
#pragma once
#include <cstdint>
#include <string>

#include "siglip/loader.h"
#include "siglip/train_options.h"

namespace sg {

struct TrainerState {
  int64_t step = 0;             // steps done
  int64_t optimizer_steps = 0;  // AdamW's bias-correction count
  BatchLoader::Position loader;  // the batch the next step takes
  TrainOptions options;
  // Saved before streamed images could be decoded at a reduced scale (the file has no exact_decode): such runs
  // decoded at full size, so options.exact_decode is set, and caption files were loaded whole, not streamed.
  bool before_streaming = false;
  int world_size = 1;  // the ranks of the run that wrote it (files without the field: 1)

  std::string to_json() const;
  // Reads `step_dir`/trainer_state.json; options missing from an older file keep their defaults (but see
  // before_streaming).
  static TrainerState load(const std::string& step_dir);
};

}  // namespace sg
