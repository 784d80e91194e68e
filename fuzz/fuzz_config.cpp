// fuzz_config: one input = the text of a config.json, read in both forms:
//   parse_hf_config (siglip/hf_config.h): Hugging Face's SiglipConfig as `siglip import` reads it;
//   SiglipConfig::parse (siglip/config.h): our checkpoints' config.json.
// Either may throw sg::Error. A config read without error must validate, and what to_json() writes must read back
// to the same config.
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "fuzz/fuzz_util.h"
#include "siglip/config.h"
#include "siglip/hf_config.h"

namespace {

void check_round_trip(const sg::SiglipConfig& c) {
  const std::string text = c.to_json().dump();
  sg::SiglipConfig back;
  try {
    back = sg::SiglipConfig::parse(text, "round trip");
  } catch (const sg::Error& e) {
    sg::fuzz::property_failed(std::string("to_json() does not read back: ") + e.what());
  }
  if (back.to_json() != c.to_json()) sg::fuzz::property_failed("to_json() reads back as another config");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    check_round_trip(sg::parse_hf_config("config.json", text));
  } catch (const sg::Error&) {
  }
  try {
    check_round_trip(sg::SiglipConfig::parse(text, "config.json"));
  } catch (const sg::Error&) {
  }
  return 0;
}
