#include "siglip/commands.h"

#include <fmt/core.h>

#include "dist/communicator.h"
#include "siglip/cli.h"

namespace sg {
namespace {

std::vector<std::string> commands_with_option(const std::string& option) {
  std::vector<std::string> names;
  for (const Command& c : commands())
    for (const std::string& o : c.option_names)
      if (o == option) names.push_back(c.name);
  return names;
}

// `run` takes the parsed options, and the command line itself where it needs to know what was given.
template <class Options, class Run>
Command make_command(Run run) {
  Command c;
  c.name = Options::command;
  c.summary = Options::summary;
  c.run = [run](const std::vector<std::string>& args) {
    Options o;
    const CommandLine cl = parse_command_line(args, o, commands_with_option);
    if (cl.help) return 0;
    if constexpr (std::is_invocable_v<Run, const Options&, const CommandLine&>) return run(o, cl);
    else return run(o);
  };
  c.help = [] {
    Options o;
    std::vector<OptionSlot> slots = option_slots(o);
    return command_help(command_info<Options>(), slots);
  };
  c.markdown = [] {
    Options o;
    return options_markdown(option_slots(o));
  };
  Options o;
  for (const OptionSlot& s : option_slots(o))
    if (!s.positional) c.option_names.push_back(s.name);
  return c;
}

std::string overview() {
  std::string out = "usage: siglip <command> [options]\n\ncommands:\n";
  for (const Command& c : commands()) out += fmt::format("  {:<14} {}\n", c.name, c.summary);
  out += fmt::format("  {:<14} {}\n", "help", "this list; `help COMMAND`: the command's options (as `COMMAND --help`)");
  out += "\n`siglip help train --markdown` prints train's options as the table in README.md.\n";
  return out;
}

// The commands named by the leading words: one ("train"), or all those starting with a group word ("bench").
std::vector<const Command*> matching(const std::vector<std::string>& words, size_t& used) {
  std::vector<const Command*> group;
  for (const Command& c : commands()) {
    const size_t space = c.name.find(' ');
    if (space == std::string::npos) {
      if (!words.empty() && words[0] == c.name) return used = 1, std::vector<const Command*>{&c};
      continue;
    }
    if (words.empty() || words[0] != c.name.substr(0, space)) continue;
    if (words.size() > 1 && words[1] == c.name.substr(space + 1)) return used = 2, std::vector<const Command*>{&c};
    group.push_back(&c);
  }
  used = group.empty() ? 0 : 1;
  return group;
}

int help(const std::vector<std::string>& words) {
  std::vector<std::string> names = words;
  const bool markdown = !names.empty() && names.back() == "--markdown";
  if (markdown) names.pop_back();
  if (names.empty() && !markdown) return fmt::print("{}", overview()), 0;
  size_t used = 0;
  std::vector<const Command*> found = matching(names, used);
  SG_CHECK(!found.empty() && used == names.size(), "help: unknown command '{}'", fmt::join(names, " "));
  for (size_t i = 0; i < found.size(); ++i)
    fmt::print("{}{}", i ? "\n" : "", markdown ? found[i]->markdown() : found[i]->help());
  return 0;
}

int dispatch(const std::vector<std::string>& words) {
  if (words.empty()) return fmt::print("{}", overview()), 2;
  if (words[0] == "help" || words[0] == "--help" || words[0] == "-h")
    return help(std::vector<std::string>(words.begin() + 1, words.end()));
  size_t used = 0;
  std::vector<const Command*> found = matching(words, used);
  if (found.empty()) {
    fmt::print(stderr, "siglip: unknown command '{}'\n{}", words[0], overview());
    return 2;
  }
  std::vector<std::string> rest(words.begin() + static_cast<std::ptrdiff_t>(used), words.end());
  if (found.size() > 1) {  // a group ("bench") without a member word: help, an unknown member, or the first member
    if (!rest.empty() && (rest[0] == "--help" || rest[0] == "-h")) return help({words[0]});
    if (!rest.empty() && rest[0][0] != '-') {
      std::vector<std::string> members;
      for (const Command* c : found) members.push_back(c->name.substr(c->name.find(' ') + 1));
      fail("{}: unknown {} '{}' (known: {})", words[0], words[0] == "bench" ? "benchmark" : "command", rest[0],
           fmt::join(members, ", "));
    }
  }
  return found[0]->run(rest);
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      make_command<TrainOptions>(run_train),
      make_command<EvalOptions>(run_eval),
      make_command<ClassifyOptions>(run_classify),
      make_command<EmbedOptions>(run_embed),
      make_command<GradcheckOptions>(run_gradcheck),
      make_command<GraphOptions>(run_graph),
      make_command<GradOptions>(run_grad),
      make_command<TraceOptions>(run_trace),
      make_command<TokenizeOptions>(run_tokenize),
      make_command<ImportOptions>(run_import),
      make_command<PreprocessOptions>(run_preprocess),
      make_command<ExportOptions>(run_export),
      make_command<BenchOpsOptions>(run_bench_ops),
      make_command<BenchKernelsOptions>(run_bench_kernels),
      make_command<BenchEmbedOptions>(run_bench_embed),
      make_command<DataPackOptions>(run_data_pack),
      make_command<DataStatsOptions>(run_data_stats),
      make_command<DataIndexOptions>(run_data_index),
  };
  return all;
}

int run_command_line(const std::vector<std::string>& words) {
  try {
    return dispatch(words);
  } catch (const std::exception& e) {  // sg::Error, and anything a library throws
    fmt::print(stderr, "error: {}\n", e.what());
    dist::abort_world_on_error(e.what());  // under mpirun: the other ranks stop too, now
    return 1;
  }
}

}  // namespace sg
