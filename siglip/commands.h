// commands.h: the subcommands of `build/siglip`; each returns the process exit status.
#pragma once

namespace sg {
int cmd_gradcheck(int argc, char** argv);  // siglip/cmd_gradcheck.cpp
int cmd_bench(int argc, char** argv);      // siglip/cmd_bench.cpp
}  // namespace sg
