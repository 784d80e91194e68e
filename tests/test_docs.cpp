// test_docs.cpp: the documents show what the tools print today. Every ```console block of docs/tutorial.md is
// a list of commands (lines starting with "$ ") each followed by its expected output. The test runs each
// command from the repository root ("build/" in a command means the folder of this test binary, so the same
// document checks build/ and build-san/) and compares the output line by line: words must be equal, numbers
// equal within a relative 1e-4 plus an absolute 1e-6 (an -O1 sanitizer build rounds differently). A line "..."
// in the expected output stands for any number of lines.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/siglip_run.h"

namespace {

struct DocCommand {
  std::string command;
  std::vector<std::string> expected;
  int line = 0;  // where the command is in the document
};

std::vector<DocCommand> console_commands(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in, path << " cannot be read");
  std::vector<DocCommand> out;
  std::string line;
  bool in_console = false;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!in_console) {
      in_console = line == "```console";
      continue;
    }
    if (line == "```") {
      in_console = false;
    } else if (line.rfind("$ ", 0) == 0) {
      out.push_back({line.substr(2), {}, n});
    } else {
      REQUIRE_MESSAGE(!out.empty(), path << ":" << n << ": output before any command in a console block");
      out.back().expected.push_back(line);
    }
  }
  return out;
}

std::vector<std::string> run_lines(const std::string& command, int& status) {
  const SiglipRun r = run_shell(command);
  status = r.status;
  std::vector<std::string> lines;
  std::istringstream s(r.output);
  for (std::string l; std::getline(s, l);) lines.push_back(l);
  return lines;
}

bool as_number(const std::string& word, double& v) {
  char* end = nullptr;
  v = std::strtod(word.c_str(), &end);
  return end && *end == '\0' && end != word.c_str();
}

// One unit in the last printed digit of a number as written ("9.411e+00": 1e-3; "97.35": 1e-2; "12": 1).
double last_digit_unit(const std::string& word) {
  const size_t e = word.find_first_of("eE"), dot = word.find('.');
  const std::string mantissa = word.substr(0, e);
  const int decimals = dot == std::string::npos || dot > mantissa.size() ? 0 : static_cast<int>(mantissa.size() - dot - 1);
  const int exponent = e == std::string::npos ? 0 : std::atoi(word.c_str() + e + 1);
  return std::pow(10.0, exponent - decimals);
}

// Words equal; numbers (with a trailing % or , stripped) within a relative 1e-4 plus an absolute 1e-6, or one unit
// in the last digit the tutorial prints: errors of order 1e-7 are rounding and differ between an -O3 build and
// an -O1 sanitizer build, and such a difference can flip the last printed digit of a value near a rounding
// boundary (9.4115 printed as 9.411e+00 or 9.412e+00).
bool same_line(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string x, y;
  while (true) {
    const bool more_a = static_cast<bool>(a >> x), more_b = static_cast<bool>(b >> y);
    if (!more_a || !more_b) return more_a == more_b;
    if (x == y) continue;
    auto strip = [](std::string s) {
      while (!s.empty() && (s.back() == '%' || s.back() == ',' || s.back() == ')')) s.pop_back();
      while (!s.empty() && (s.front() == '(' || s.front() == '[')) s.erase(0, 1);
      return s;
    };
    double u, v;
    if (!as_number(strip(x), u) || !as_number(strip(y), v)) return false;
    const double tolerance = std::max(1e-4 * std::max(std::abs(u), std::abs(v)) + 1e-6, last_digit_unit(strip(x)));
    if (std::abs(u - v) > tolerance * (1 + 1e-9)) return false;
  }
}

// Matches expected lines against the output; "..." matches any run of lines (shortest first).
bool matches(const std::vector<std::string>& want, size_t i, const std::vector<std::string>& got, size_t j) {
  if (i == want.size()) return j == got.size();
  if (want[i] == "...") {
    for (size_t k = j; k <= got.size(); ++k)
      if (matches(want, i + 1, got, k)) return true;
    return false;
  }
  return j < got.size() && same_line(want[i], got[j]) && matches(want, i + 1, got, j + 1);
}

std::string replace_build_dir(std::string command, const std::string& build) {
  for (size_t at = command.find("build/"); at != std::string::npos; at = command.find("build/", at + build.size())) {
    if (at > 0 && command[at - 1] != ' ' && command[at - 1] != '=') continue;
    command.replace(at, 6, build + "/");
  }
  return command;
}

}  // namespace

TEST_CASE("docs: every console command of docs/tutorial.md prints what the tutorial shows") {
  const std::string build = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  const auto commands = console_commands("docs/tutorial.md");
  CHECK(commands.size() >= 8);
  for (const DocCommand& c : commands) {
    const std::string cmd = replace_build_dir(c.command, build);
    int status = 0;
    const std::vector<std::string> got = run_lines(cmd, status);
    std::string shown;
    for (const auto& l : got) shown += "  " + l + "\n";
    CHECK_MESSAGE(status == 0, "docs/tutorial.md:" << c.line << ": `" << c.command << "` exited with " << status
                                                   << "\n" << shown);
    CHECK_MESSAGE(matches(c.expected, 0, got, 0), "docs/tutorial.md:" << c.line << ": `" << c.command
                                                                      << "` printed something else:\n" << shown);
  }
}

TEST_CASE("docs: the console-block comparison tells different numbers and words apart") {
  CHECK(same_line("dL/db  -0.1234567  1e-12", "dL/db -0.12345671 1.00001e-12"));
  CHECK_FALSE(same_line("dL/db -0.1234", "dL/db -0.1236"));
  CHECK_FALSE(same_line("loss 1.0 pass", "loss 1.0 FAIL"));
  CHECK_FALSE(same_line("a b", "a b c"));
  CHECK(matches({"first", "...", "last"}, 0, {"first", "x", "y", "last"}, 0));
  CHECK_FALSE(matches({"first", "last"}, 0, {"first", "x", "last"}, 0));
}
