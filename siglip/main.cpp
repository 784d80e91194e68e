// main.cpp: `build/siglip <command>`: train, eval, classify, embed, gradcheck, bench.
#include <fmt/core.h>

#include <cstring>
#include <string>

#include "siglip/commands.h"
#include "base/error.h"

namespace {
void usage() {
  fmt::print(
      "usage: siglip <command> [options]\n"
      "  train [--data shapes|fashion-mnist|FILE.tsv|FILE.jsonl] [--config FILE.json|tiny|micro|b16] [--steps N]\n"
      "        [--batch N] [--lr X] [--warmup N] [--loss sigmoid|softmax] [--positives diagonal|caption|label]\n"
      "        [--init-bias auto|X] [--init-temp X] [--device cpu|cuda] [--seed N] [--out DIR] [--resume DIR]\n"
      "        [--lock-image CHECKPOINT] [--log-every N] [--ckpt-every N] [--eval-limit N] [--no-eval]\n"
      "        [--vocab N] [--precision f32|bf16] [--profile]   (bf16: bf16 activations and GEMMs, f32 master weights;\n"
      "        --profile: per-kernel time table at the end, also SG_PROFILE=1)\n"
      "  eval --checkpoint DIR [--data ...] [--limit N] [--json]   zero-shot accuracy and retrieval R@1/R@5\n"
      "  classify --checkpoint DIR IMAGE \"text 1\" \"text 2\" ...    sigmoid probability of each text\n"
      "  embed --checkpoint DIR (--images FILES... | --texts TEXTS...) --out FILE(.safetensors|.json)\n"
      "  gradcheck [OP...] [--json]   every op's backward against f64 central differences\n"
      "  bench ops                    GEMM GFLOP/s vs the raw library; layer_norm/softmax/gelu GB/s vs memcpy\n"
      "  bench kernels [--device cpu|cuda] [--reps N] [--batch N]\n"
      "                               attention TFLOP/s, matmul, layer_norm GB/s (f32, bf16) next to the card's\n"
      "                               measured ceilings (copy GB/s, cuBLAS bf16 and f32 GEMM TFLOP/s)\n");
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
    if (cmd == "train") return sg::cmd_train(argc, argv);
    if (cmd == "eval") return sg::cmd_eval(argc, argv);
    if (cmd == "classify") return sg::cmd_classify(argc, argv);
    if (cmd == "embed") return sg::cmd_embed(argc, argv);
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
