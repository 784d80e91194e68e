#include "siglip/checkpoint_writer.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "nn/fileio.h"
#include "base/error.h"

namespace sg {
namespace fs = std::filesystem;

std::string CheckpointWriter::step_name(int64_t step) { return fmt::format("step-{:06d}", step); }

void CheckpointWriter::save(int64_t step, const std::function<void(const std::string&)>& write_files) {
  const std::string name = step_name(step), dir = run_dir_ + "/" + name;
  SG_CHECK(!file_exists(run_dir_ + "/latest") || read_file(run_dir_ + "/latest") != name + "\n",
           "checkpoint: {} is the current checkpoint of {}; it is not rewritten in place", name, run_dir_);
  try {
    make_dirs(dir);
    write_files(dir);
  } catch (...) {
    std::error_code ignored;  // the original error is the one to report
    fs::remove_all(dir, ignored);
    throw;
  }
  write_file_atomic(run_dir_ + "/latest", name + "\n");  // the checkpoint becomes current only now
  keep_two_newest();
}

void CheckpointWriter::keep_two_newest() {
  std::vector<std::string> steps;
  for (const auto& e : fs::directory_iterator(run_dir_))
    if (e.is_directory() && e.path().filename().string().rfind("step-", 0) == 0) steps.push_back(e.path().string());
  std::sort(steps.begin(), steps.end());  // zero-padded: by name is by step
  for (size_t i = 0; i + 2 < steps.size(); ++i) fs::remove_all(steps[i]);
}

}  // namespace sg
