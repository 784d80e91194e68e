// siglip_run.h: running programs from a test: a shell command, the siglip binary built next to the test binary,
// and the Python test oracle (.venv/bin/python, made by `scripts/install-deps.sh --oracles`).
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

struct SiglipRun {
  int status;
  std::string output;  // stdout and stderr
};

// Runs `command` with sh (stderr joined to stdout): its exit status (-1 when killed) and output.
inline SiglipRun run_shell(const std::string& command) {
  FILE* p = popen(("(" + command + ") 2>&1").c_str(), "r");
  REQUIRE_MESSAGE(p, "cannot run: " << command);
  SiglipRun r{0, ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The siglip binary next to this test binary (build/ or build-san/).
inline std::string siglip_binary() {
  const auto bin = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "siglip";
  REQUIRE_MESSAGE(std::filesystem::exists(bin), bin.string() << " is missing (make builds it with the tests)");
  return bin.string();
}

inline SiglipRun run_siglip(const std::string& args) { return run_shell(siglip_binary() + " " + args); }

// The Python oracle, relative to the repository root (where the tests run): ".venv/bin/python".
inline const std::string kOraclePython = ".venv/bin/python";

// Empty when kOraclePython imports every module of `modules` (e.g. "torch, transformers"); else why not, for a
// test to report as SKIPPED.
inline std::string oracle_missing(const std::string& modules) {
  if (!std::filesystem::exists(kOraclePython))
    return kOraclePython + " does not exist in " + std::filesystem::current_path().string() +
           " (scripts/install-deps.sh --oracles makes it)";
  const SiglipRun r = run_shell(kOraclePython + " -c 'import " + modules + "'");
  return r.status == 0 ? std::string() : kOraclePython + " cannot import " + modules + ": " + r.output;
}
