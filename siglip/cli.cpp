#include "siglip/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>

namespace sg {
namespace {

std::string option_text(const OptionSlot& s) {  // "--steps N", "--no-eval", "IMAGE TEXT..."
  if (s.positional) return s.placeholder;
  return "--" + s.name + (s.placeholder.empty() ? "" : " " + s.placeholder);
}

std::string usage_line(const CommandInfo& cmd, const std::vector<OptionSlot>& slots) {
  std::string line = "usage: siglip " + cmd.name + " [options]";
  for (const auto& s : slots)
    if (s.positional) line += " " + s.placeholder;
  return line;
}

[[noreturn]] void unknown_option(const CommandInfo& cmd, const std::string& word, const OptionOwners& owners) {
  const std::string name = word.substr(0, word.find('='));
  std::vector<std::string> others = owners ? owners(name.substr(name.find_first_not_of('-'))) : std::vector<std::string>{};
  std::erase(others, cmd.name);
  if (others.empty()) fail("{}: unknown option {} (`siglip {} --help` lists the options)", cmd.name, name, cmd.name);
  fail("{}: unknown option {} (an option of {})", cmd.name, name, fmt::join(others, ", "));
}

}  // namespace

CommandLine parse_command_line(const CommandInfo& cmd, const std::vector<std::string>& args, std::vector<OptionSlot>& slots,
                               const OptionOwners& owners) {
  CLI::App app(cmd.summary, "siglip " + cmd.name);
  app.allow_extras();  // unknown words are reported below, with the command's name
  app.set_help_flag("-h,--help", "print this help");
  std::vector<std::string> values(slots.size());                 // the text of each option given
  std::vector<std::vector<std::string>> words(slots.size());     // positional words
  std::vector<CLI::Option*> bound(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const OptionSlot& s = slots[i];
    if (s.positional) bound[i] = app.add_option("words", words[i], s.help);  // (one positional slot per command)
    else if (s.flag) bound[i] = app.add_flag("--" + s.name, s.help)->disable_flag_override();  // no --flag=VALUE
    else bound[i] = app.add_option("--" + s.name, values[i], s.help)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  CommandLine out;
  try {
    app.parse(std::vector<std::string>(args.rbegin(), args.rend()));  // CLI11 reads the vector back to front
  } catch (const CLI::CallForHelp&) {
    fmt::print("{}", command_help(cmd, slots));
    out.help = true;
    return out;
  } catch (const CLI::ArgumentMismatch& e) {  // "--steps: 1 required TEXT missing", "profile was given a disallowed ..."
    const std::string what = e.what();
    if (what.rfind("--", 0) == 0) fail("{}: {} needs a value", cmd.name, what.substr(0, what.find(':')));
    fail("{}: --{} takes no value", cmd.name, what.substr(0, what.find(' ')));
  } catch (const CLI::ParseError& e) {
    fail("{}: {}", cmd.name, e.what());
  }
  for (const std::string& w : app.remaining()) {
    if (w.size() > 1 && w[0] == '-') unknown_option(cmd, w, owners);
    fail("{}: unexpected argument '{}'", cmd.name, w);
  }
  for (size_t i = 0; i < slots.size(); ++i) {
    const OptionSlot& s = slots[i];
    if (bound[i]->count() == 0) continue;
    if (s.positional) {
      s.assign_words(words[i]);
      continue;
    }
    out.given.insert(s.name);
    SG_CHECK(s.assign(values[i]), "{}: --{} must be {}; got '{}'", cmd.name, s.name, s.expects, values[i]);
  }
  return out;
}

std::string command_help(const CommandInfo& cmd, std::vector<OptionSlot>& slots) {
  std::string out = fmt::format("siglip {}: {}\n{}\n\n", cmd.name, cmd.summary, usage_line(cmd, slots));
  size_t width = 10;
  for (const auto& s : slots) width = std::max(width, std::min<size_t>(option_text(s).size(), 30));
  auto row = [&](const std::string& left, const std::string& help) {
    if (left.size() > width) out += fmt::format("  {}\n  {:{}}  {}\n", left, "", width, help);
    else out += fmt::format("  {:{}}  {}\n", left, width, help);
  };
  for (const auto& s : slots)
    row(option_text(s), s.default_text.empty() ? s.help : fmt::format("{} (default: {})", s.help, s.default_text));
  row("-h, --help", "print this help");
  return out;
}

std::string options_markdown(const std::vector<OptionSlot>& slots) {
  auto cell = [](std::string s) {  // a '|' inside a table cell must be escaped, even in code
    std::string out;
    for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
  };
  std::string out = "| option | default | meaning |\n|---|---|---|\n";
  for (const auto& s : slots) {
    const std::string def = s.default_text.empty() ? "" : "`" + cell(s.default_text) + "`";
    out += fmt::format("| `{}` | {} | {} |\n", cell(option_text(s)), def, cell(s.help));
  }
  return out;
}

}  // namespace sg
