// commands.h: the subcommands of `build/siglip`; each returns the process exit status.
#pragma once

namespace sg {
int cmd_gradcheck(int argc, char** argv);  // siglip/cmd_gradcheck.cpp
int cmd_bench(int argc, char** argv);      // siglip/cmd_bench.cpp
int cmd_train(int argc, char** argv);      // siglip/cmd_train.cpp
int cmd_eval(int argc, char** argv);       // siglip/cmd_use.cpp
int cmd_classify(int argc, char** argv);
int cmd_embed(int argc, char** argv);
}  // namespace sg
