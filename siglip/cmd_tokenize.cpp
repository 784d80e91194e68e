// cmd_tokenize.cpp: `siglip tokenize --tokenizer DIR --length L`: the ids the model sees for each line of standard
// input (one output line each, ids separated by spaces), or with --canonical the canonical text.
#include <iostream>
#include <string>

#include <fmt/core.h>
#include <fmt/format.h>

#include "siglip/commands.h"
#include "siglip/tokenizer.h"

namespace sg {

int run_tokenize(const TokenizeOptions& o) {
  SG_CHECK(!o.tokenizer.empty(), "tokenize: --tokenizer DIR is required");
  SG_CHECK(o.length >= 1, "tokenize: --length must be >= 1 (got {})", o.length);
  const Tokenizer tok = Tokenizer::load_folder(o.tokenizer);
  std::string line, out;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    try {
      if (o.canonical) {
        out += tok.sentencepiece() ? tok.sentencepiece()->canonicalize(line) : Tokenizer::canonicalize(line);
      } else {
        out += fmt::format("{}", fmt::join(tok.encode(line, static_cast<int>(o.length)), " "));
      }
    } catch (const Error& e) {
      fail("tokenize: line {}: {}", n, e.what());
    }
    out += '\n';
    if (out.size() > (1 << 16)) std::cout << out, out.clear();
  }
  std::cout << out << std::flush;
  return 0;
}

}  // namespace sg
