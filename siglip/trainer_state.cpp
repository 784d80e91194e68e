#include "siglip/trainer_state.h"

#include "nn/fileio.h"
#include "siglip/option_json.h"

namespace sg {

std::string TrainerState::to_json() const {
  nlohmann::json j = {{"step", step},
                      {"optimizer_steps", optimizer_steps},
                      {"loader", {{"epoch", loader.epoch}, {"index", loader.index}}},
                      {"world_size", world_size},
                      {"options", options_to_json(options)}};
  return j.dump(2) + "\n";
}

TrainerState TrainerState::load(const std::string& step_dir) {
  const std::string path = step_dir + "/trainer_state.json";
  const nlohmann::json j = nlohmann::json::parse(read_file(path), nullptr, false);
  SG_CHECK(!j.is_discarded(), "train: {} is malformed", path);
  TrainerState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.optimizer_steps = j.at("optimizer_steps").get<int64_t>();
    s.loader = {j.at("loader").at("epoch").get<uint64_t>(), j.at("loader").at("index").get<uint64_t>()};
    s.world_size = j.value("world_size", 1);
  } catch (const nlohmann::json::exception& e) {
    fail("train: {}: {}", path, e.what());
  }
  SG_CHECK(s.world_size >= 1, "train: {}: world_size {} must be at least 1", path, s.world_size);
  const nlohmann::json options = j.value("options", nlohmann::json::object());
  s.options = options_from_json<TrainOptions>(options, path);
  s.before_streaming = options.is_object() && !options.contains("exact_decode");
  if (s.before_streaming) s.options.exact_decode = true;
  return s;
}

}  // namespace sg
