// checkpoint_writer.h: RUN/step-NNNNNN directories, the `latest` pointer and their rotation (siglip/checkpoint.h
// describes the layout). A checkpoint becomes current only when every file of it is written.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace sg {

class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::string run_dir) : run_dir_(std::move(run_dir)) {}

  // Creates RUN/step-NNNNNN, lets `write_files(dir)` fill it, then points RUN/latest at it and removes all but the
  // two newest step directories. When writing fails (a full disk, ...), the step directory is removed and the
  // error rethrown: `latest` still names the last complete checkpoint.
  void save(int64_t step, const std::function<void(const std::string& step_dir)>& write_files);

  static std::string step_name(int64_t step);  // "step-000500"

 private:
  void keep_two_newest();
  std::string run_dir_;
};

}  // namespace sg
