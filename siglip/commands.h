// commands.h: the commands of `build/siglip`, one table: name, summary, how to run it and how to show its options.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "siglip/cli.h"
#include "siglip/command_options.h"
#include "siglip/train_options.h"

namespace sg {

// Each returns the process exit status.
int run_train(TrainOptions o, const CommandLine& given);  // siglip/cmd_train.cpp
int run_eval(const EvalOptions& o);            // siglip/cmd_use.cpp
int run_classify(const ClassifyOptions& o);    // siglip/cmd_use.cpp
int run_embed(const EmbedOptions& o);          // siglip/cmd_use.cpp
int run_gradcheck(const GradcheckOptions& o);  // siglip/cmd_gradcheck.cpp
int run_graph(const GraphOptions& o);          // siglip/cmd_graph.cpp
int run_grad(const GradOptions& o);            // siglip/cmd_grad.cpp
int run_trace(const TraceOptions& o);          // siglip/cmd_trace.cpp (siglip/trace.h: the same with streams)
int run_tokenize(const TokenizeOptions& o);    // siglip/cmd_tokenize.cpp
int run_import(const ImportOptions& o);        // siglip/cmd_import.cpp
int run_preprocess(const PreprocessOptions& o);  // siglip/cmd_preprocess.cpp
int run_export(const ExportOptions& o);        // siglip/cmd_export.cpp
int run_bench_ops(const BenchOpsOptions& o);   // siglip/cmd_bench.cpp
int run_bench_kernels(const BenchKernelsOptions& o);
int run_bench_embed(const BenchEmbedOptions& o);  // siglip/cmd_bench_embed.cpp
int run_data_pack(const DataPackOptions& o);    // siglip/cmd_data.cpp
int run_data_stats(const DataStatsOptions& o);
int run_data_index(const DataIndexOptions& o);

struct Command {
  std::string name;  // "train", "bench kernels"
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;  // parses the words after the name, runs
  std::function<std::string()> help;                               // what --help prints
  std::function<std::string()> markdown;                           // the option table (README.md)
  std::vector<std::string> option_names;                           // "steps", "no-eval", ...
};
const std::vector<Command>& commands();

// main(): `siglip COMMAND ARGS...`, `siglip help [COMMAND [--markdown]]`. Errors are printed as "error: ...".
int run_command_line(const std::vector<std::string>& words);

}  // namespace sg
