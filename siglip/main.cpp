// main.cpp: `build/siglip <command>`: train, eval, classify, embed, gradcheck, bench.
#include <fmt/core.h>

#include <cstring>
#include <string>

#include "siglip/commands.h"
#include "tensor/error.h"

namespace {
void usage() {
  fmt::print(
      "usage: siglip <command> [options]\n"
      "  gradcheck [OP...] [--json]   every op's backward against f64 central differences\n"
      "  bench ops                    GEMM GFLOP/s vs the raw library; layer_norm/softmax/gelu GB/s vs memcpy\n");
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "help") || !std::strcmp(argv[1], "--help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    if (cmd == "gradcheck") return sg::cmd_gradcheck(argc, argv);
    if (cmd == "bench") return sg::cmd_bench(argc, argv);
    fmt::print(stderr, "siglip: unknown command '{}'\n", cmd);
    usage();
    return 2;
  } catch (const sg::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
}
