// cli.h: a command's words -> its options struct (CLI11 underneath), its --help text and its markdown table,
// all from the option slots of siglip/options.h.
//
// Errors are sg::Error naming the command and the option:
//   "train: unknown option --foo"
//   "eval: unknown option --steps (an option of train)"
//   "train: --loss must be one of sigmoid, softmax; got 'hinge'"
//   "train: unexpected argument 'extra'"
#pragma once
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "siglip/options.h"

namespace sg {

struct CommandLine {
  bool help = false;             // --help was given: the help text is printed, nothing else is to be done
  std::set<std::string> given;   // the options given, by name ("steps", "no-eval")
  bool has(const std::string& name) const { return given.count(name) > 0; }
};

// For "unknown option" messages: the other commands that have an option of this name.
using OptionOwners = std::function<std::vector<std::string>(const std::string& option)>;

struct CommandInfo {
  std::string name;     // "train", "bench kernels"
  std::string summary;  // one line
};

// Parses `args` (the words after the command's name) into the slots' fields. --help prints the help text.
CommandLine parse_command_line(const CommandInfo& cmd, const std::vector<std::string>& args, std::vector<OptionSlot>& slots,
                               const OptionOwners& owners = {});

// What `siglip <command> --help` prints: usage, summary, one line per option with its default.
std::string command_help(const CommandInfo& cmd, std::vector<OptionSlot>& slots);
// The option table of README.md: | option | default | meaning |, one row per option.
std::string options_markdown(const std::vector<OptionSlot>& slots);

template <class Options>
CommandInfo command_info() {
  return {Options::command, Options::summary};
}

template <class Options>
CommandLine parse_command_line(const std::vector<std::string>& args, Options& o, const OptionOwners& owners = {}) {
  std::vector<OptionSlot> slots = option_slots(o);
  return parse_command_line(command_info<Options>(), args, slots, owners);
}

}  // namespace sg
