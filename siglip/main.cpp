// main.cpp: `build/siglip <command>`: train, eval, classify, embed, gradcheck, bench (siglip/commands.h).
#include "siglip/commands.h"

int main(int argc, char** argv) { return sg::run_command_line(std::vector<std::string>(argv + 1, argv + argc)); }
